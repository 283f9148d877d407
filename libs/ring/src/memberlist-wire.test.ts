import { crc32, deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { decodeEnvelope, encodeEnvelope, encodeMessage, type Message } from './memberlist-wire';
import { WireError } from './wire';

const node = { name: 'ingester-0-1a2b', addr: '127.0.0.1', port: 7946 };

const messages: Message[] = [
  { type: 'ping', seq: 1, target: 'b', source: node },
  { type: 'indirect-ping', seq: 0xffffffff, target: { name: 'b', addr: '::1', port: 1 }, source: node },
  { type: 'ack', seq: 7 },
  { type: 'alive', node, incarnation: 3 },
  { type: 'suspect', node: 'b', incarnation: 2, from: 'c' },
  { type: 'dead', node: 'b', incarnation: 2, from: 'b' },
  { type: 'user', payload: new Uint8Array([1, 2, 3]) },
  { type: 'push-pull', join: true, sender: node, nodes: [{ ...node, incarnation: 4, state: 'suspect' }], userState: new Uint8Array(10) },
];

describe('gossip wire format', () => {
  test('every message type round-trips, several per envelope', () => {
    const env = encodeEnvelope('stave', messages.map(encodeMessage));
    const back = decodeEnvelope(env, 1 << 20);
    expect(back.label).toBe('stave');
    expect(back.messages).toEqual(messages);
  });

  test('random bytes throw WireError, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
        try {
          decodeEnvelope(b, 1 << 20);
          return false; // without a valid CRC nothing random decodes
        } catch (err) {
          return err instanceof WireError;
        }
      }),
      { numRuns: 3000 },
    );
  });

  test('any flipped bit is caught by the checksum', () => {
    const env = encodeEnvelope('', messages.map(encodeMessage));
    fc.assert(
      fc.property(fc.nat(env.length * 8 - 1), (bit) => {
        const bad = Buffer.from(env);
        bad[bit >> 3]! ^= 1 << (bit & 7);
        expect(() => decodeEnvelope(bad, 1 << 20)).toThrow(WireError);
      }),
      { numRuns: 500 },
    );
  });

  test('well-framed envelopes with garbage bodies (valid checksum) throw WireError only', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 12 }), fc.uint8Array({ maxLength: 200 }), (type, body) => {
        const framed = Buffer.alloc(5 + body.length);
        framed[0] = type;
        framed.writeUInt32BE(body.length, 1);
        framed.set(body, 5);
        try {
          decodeEnvelope(encodeEnvelope('', [framed]), 1 << 20);
          return true;
        } catch (err) {
          return err instanceof WireError;
        }
      }),
      { numRuns: 3000 },
    );
  });

  test('a message claiming more bytes than the envelope holds is refused', () => {
    const framed = Buffer.from([3, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1]);
    expect(() => decodeEnvelope(encodeEnvelope('', [framed]), 1 << 20)).toThrow(/length 4294967295 but 4 bytes left/);
  });

  test('user payloads over the limit are refused before they are copied', () => {
    const env = encodeEnvelope('', [encodeMessage({ type: 'user', payload: new Uint8Array(100) })]);
    expect(() => decodeEnvelope(env, 99)).toThrow(/100 bytes is more than the limit of 99/);
  });

  test('compressed envelopes (version 2) round-trip and are smaller for repetitive state', () => {
    const big: Message = {
      type: 'push-pull',
      join: false,
      sender: node,
      nodes: Array.from({ length: 50 }, (_, i) => ({ ...node, name: `member-${i}`, incarnation: 1, state: 'alive' as const })),
      userState: new Uint8Array(5000),
    };
    const plain = encodeEnvelope('l', [encodeMessage(big)]);
    const packed = encodeEnvelope('l', [encodeMessage(big)], true);
    expect(packed.length).toBeLessThan(plain.length / 4);
    expect(decodeEnvelope(packed, 1 << 20).messages).toEqual([big]);
  });

  test('a deflate bomb is refused at the inflate cap', () => {
    // 64 MiB of zeros deflates to ~64 KiB; with a 1 MiB cap it must not be inflated.
    const body = Buffer.alloc(64 * 1024 * 1024);
    body[0] = 1; // one message...
    const bomb = deflateRawSync(body);
    const head = Buffer.from([0x53, 0x56, 2, 0]);
    const withoutCrc = Buffer.concat([head, bomb]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(withoutCrc));
    expect(() => decodeEnvelope(Buffer.concat([withoutCrc, crc]), 1 << 20)).toThrow(/does not inflate within/);
  });
});
