import { parseEndpoint } from './receiver-common';

test.each([
  ['0.0.0.0:14268', { host: '0.0.0.0', port: 14268 }],
  ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
  [':9411', { host: '', port: 9411 }],
  ['localhost:6831', { host: 'localhost', port: 6831 }],
  ['[::1]:6832', { host: '::1', port: 6832 }],
  ['[::]:0', { host: '::', port: 0 }],
])('endpoint %s', (endpoint, want) => {
  expect(parseEndpoint(endpoint)).toEqual(want);
});

test.each(['14268', 'host', 'host:', 'host:70000', '::1:80', 'a:b:c'])('invalid endpoint %s names itself', (endpoint) => {
  expect(() => parseEndpoint(endpoint)).toThrow(`invalid endpoint ${JSON.stringify(endpoint)}`);
});
