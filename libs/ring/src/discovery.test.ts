import dgram from 'node:dgram';
import dns from 'node:dns';
import type { AddressInfo } from 'node:net';
import { parseJoinMember, resolveJoinMembers, type JoinMember } from './discovery';

describe('parseJoinMember', () => {
  const ok: Array<[string, JoinMember]> = [
    ['10.0.0.1:7946', { kind: 'static', host: '10.0.0.1', port: 7946 }],
    ['ingester-0', { kind: 'static', host: 'ingester-0', port: 7000 }],
    ['[::1]:7946', { kind: 'static', host: '::1', port: 7946 }],
    ['dns+gossip-ring.tempo.svc.cluster.local:7946', { kind: 'dns', name: 'gossip-ring.tempo.svc.cluster.local', port: 7946 }],
    ['dns+gossip-ring', { kind: 'dns', name: 'gossip-ring', port: 7000 }],
    ['dnssrv+_tcp-gossip-ring._tcp.gossip-ring.tempo.svc', { kind: 'dnssrv', name: '_tcp-gossip-ring._tcp.gossip-ring.tempo.svc', resolveTargets: true }],
    ['dnssrvnoa+_gossip._tcp.x', { kind: 'dnssrv', name: '_gossip._tcp.x', resolveTargets: false }],
    [
      'kubernetes+tempo/app.kubernetes.io/name=tempo,app.kubernetes.io/component in (ingester,distributor):7946',
      {
        kind: 'kubernetes',
        namespace: 'tempo',
        labelSelector: 'app.kubernetes.io/name=tempo,app.kubernetes.io/component in (ingester,distributor)',
        port: 7946,
      },
    ],
    ['kubernetes+tempo/app=tempo:gossip-ring', { kind: 'kubernetes', namespace: 'tempo', labelSelector: 'app=tempo', port: 'gossip-ring' }],
    ['kubernetes+default/tempo-gossip-member', { kind: 'kubernetes', namespace: 'default', labelSelector: 'tempo-gossip-member', port: 7000 }],
  ];
  test.each(ok)('%s', (entry, want) => {
    expect(parseJoinMember(entry, 7000)).toEqual(want);
  });

  const bad: Array<[string, RegExp]> = [
    ['', /empty entry/],
    ['host:99999', /port "99999"/],
    ['host:', /port ""/],
    ['dnssrv+_x._tcp.y:80', /without a port/],
    ['kubernetes+tempo', /expected kubernetes\+<namespace>/],
    ['kubernetes+Tempo_NS/app=x', /not a namespace name/],
    ['kubernetes+tempo/:7946', /label selector is empty/],
    ['kubernetes+tempo/app=x:not a port', /neither a port number nor a port name/],
  ];
  test.each(bad)('rejects %j', (entry, msg) => {
    expect(() => parseJoinMember(entry, 7000)).toThrow(msg);
  });
});

// A tiny authoritative DNS server on 127.0.0.1:0 (UDP), so resolution runs through node:dns's real resolver.
interface Zone {
  A?: Record<string, string[]>;
  AAAA?: Record<string, string[]>;
  SRV?: Record<string, Array<{ priority: number; weight: number; port: number; target: string }>>;
}

function encodeName(name: string): Buffer {
  const parts = name.split('.').filter((p) => p !== '');
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'ascii')])), Buffer.from([0])]);
}

function ipv6Bytes(addr: string): Buffer {
  const [head, tail] = addr.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return b;
}

async function startDnsServer(zone: Zone): Promise<{ server: string; close: () => Promise<void>; queries: string[] }> {
  const sock = dgram.createSocket('udp4');
  const queries: string[] = [];
  sock.on('message', (msg, rinfo) => {
    // Question: name labels from offset 12, then qtype and qclass.
    let off = 12;
    const labels: string[] = [];
    while (msg[off]! !== 0) {
      const len = msg[off]!;
      labels.push(msg.subarray(off + 1, off + 1 + len).toString('ascii'));
      off += 1 + len;
    }
    off += 1;
    const qtype = msg.readUInt16BE(off);
    const question = msg.subarray(12, off + 4);
    const name = labels.join('.').toLowerCase();
    const typeName = qtype === 1 ? 'A' : qtype === 28 ? 'AAAA' : qtype === 33 ? 'SRV' : String(qtype);
    queries.push(`${typeName} ${name}`);
    const answers: Buffer[] = [];
    const rr = (type: number, rdata: Buffer) => {
      const h = Buffer.alloc(12);
      h.writeUInt16BE(0xc00c, 0);
      h.writeUInt16BE(type, 2);
      h.writeUInt16BE(1, 4);
      h.writeUInt32BE(30, 6);
      h.writeUInt16BE(rdata.length, 10);
      answers.push(Buffer.concat([h, rdata]));
    };
    const known = [zone.A, zone.AAAA, zone.SRV].some((z) => z && name in z);
    if (qtype === 1) for (const a of zone.A?.[name] ?? []) rr(1, Buffer.from(a.split('.').map(Number)));
    if (qtype === 28) for (const a of zone.AAAA?.[name] ?? []) rr(28, ipv6Bytes(a));
    if (qtype === 33) {
      for (const s of zone.SRV?.[name] ?? []) {
        const fixed = Buffer.alloc(6);
        fixed.writeUInt16BE(s.priority, 0);
        fixed.writeUInt16BE(s.weight, 2);
        fixed.writeUInt16BE(s.port, 4);
        rr(33, Buffer.concat([fixed, encodeName(s.target)]));
      }
    }
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // id
    header.writeUInt16BE(0x8400 | 0x0100 | 0x0080 | (known ? 0 : 3), 2); // response, authoritative, RD, RA, NXDOMAIN when unknown
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    sock.send(Buffer.concat([header, question, ...answers]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  const port = (sock.address() as AddressInfo).port;
  return { server: `127.0.0.1:${port}`, queries, close: () => new Promise<void>((r) => sock.close(() => r())) };
}

describe('resolveJoinMembers over DNS', () => {
  let dnsServer: Awaited<ReturnType<typeof startDnsServer>>;
  let resolver: dns.promises.Resolver;

  beforeAll(async () => {
    dnsServer = await startDnsServer({
      A: { 'gossip.test': ['127.0.0.2', '127.0.0.3'], 'm1.test': ['127.0.0.11'] },
      AAAA: { 'gossip.test': ['::1'] },
      SRV: {
        '_gossip._tcp.gossip.test': [
          { priority: 0, weight: 10, port: 7001, target: 'm1.test' },
          { priority: 0, weight: 10, port: 7002, target: 'm2.test' },
        ],
      },
    });
    resolver = new dns.promises.Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers([dnsServer.server]);
  });
  afterAll(async () => {
    await dnsServer.close();
  });

  const noHosts = async () => [] as string[];

  test('static members pass through, deduplicated', async () => {
    const r = await resolveJoinMembers(['127.0.0.1:7946', '127.0.0.1:7946', 'peer', '[::1]:8000'], { defaultPort: 7946 });
    expect(r).toEqual({ addresses: ['127.0.0.1:7946', 'peer:7946', '[::1]:8000'], errors: [] });
  });

  test('dns+ resolves A and AAAA records with the given port', async () => {
    const r = await resolveJoinMembers(['dns+gossip.test:7946'], { defaultPort: 1, dns: resolver, lookup: noHosts });
    expect(r.errors).toEqual([]);
    expect(r.addresses.sort()).toEqual(['127.0.0.2:7946', '127.0.0.3:7946', '[::1]:7946']);
    expect(dnsServer.queries).toEqual(expect.arrayContaining(['A gossip.test', 'AAAA gossip.test']));
  });

  test('dns+ falls back to the hosts file, and reports a name nobody knows', async () => {
    const hosts = async (name: string) => (name === 'only-in-hosts' ? ['127.0.0.9'] : []);
    const r = await resolveJoinMembers(['dns+only-in-hosts:7000', 'dns+nowhere.test:7000', '10.1.1.1:7000'], { defaultPort: 1, dns: resolver, lookup: hosts });
    expect(r.addresses).toEqual(['127.0.0.9:7000', '10.1.1.1:7000']);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(/^dns\+nowhere\.test:7000: no addresses for nowhere\.test/);
  });

  test('dnssrv+ resolves SRV targets to addresses; a target without records keeps its name', async () => {
    const r = await resolveJoinMembers(['dnssrv+_gossip._tcp.gossip.test'], { defaultPort: 1, dns: resolver, lookup: noHosts });
    expect(r.errors).toEqual([]);
    expect(r.addresses.sort()).toEqual(['127.0.0.11:7001', 'm2.test:7002']);
  });

  test('dnssrvnoa+ leaves SRV targets as names', async () => {
    const r = await resolveJoinMembers(['dnssrvnoa+_gossip._tcp.gossip.test'], { defaultPort: 1, dns: resolver });
    expect(r.addresses.sort()).toEqual(['m1.test:7001', 'm2.test:7002']);
  });

  test('a malformed entry is an error naming it; the others still resolve', async () => {
    const r = await resolveJoinMembers(['bad:port', '127.0.0.1:1'], { defaultPort: 1 });
    expect(r.addresses).toEqual(['127.0.0.1:1']);
    expect(r.errors).toEqual(['bad:port: bad address "bad:port": port "port"']);
  });
});
