// Gossip on loopback, in process: members with real UDP and TCP sockets on 127.0.0.1, port 0.
import dgram from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { RingDesc, ringDescCodec, tokenOwners } from './desc';
import { encodeEnvelope, encodeMessage } from './memberlist-wire';
import { descBytes, poll, startMember, type TestMember } from './testing/cluster';
import { Writer } from './wire';

jest.setTimeout(30_000);

const members: TestMember[] = [];
afterEach(async () => {
  await Promise.all(members.splice(0).map((m) => m.stop().catch(() => undefined)));
});

async function cluster(n: number, o: Parameters<typeof startMember>[1] = {}): Promise<TestMember[]> {
  const first = await startMember(0, o);
  members.push(first);
  const rest = await Promise.all(Array.from({ length: n - 1 }, (_, i) => startMember(i + 1, { ...o, join: [first.address] })));
  members.push(...rest);
  return [first, ...rest];
}

/** Every member holds byte-identical descriptors with `n` ACTIVE instances. */
function converged(ms: readonly TestMember[], n: number): boolean {
  const views = ms.map((m) => m.ring.desc());
  const first = descBytes(views[0]!);
  return views.every((d) => descBytes(d) === first && [...d.instances.values()].filter((i) => i.state === 'ACTIVE').length === n);
}

/** Every member sees `n` ACTIVE instances and `n` members (descriptors differ while heartbeats fly). */
function allActive(ms: readonly TestMember[], n: number): boolean {
  const members = ms.map((m) => m.kv.memberlist.numMembers());
  const active = ms.map((m) => [...m.ring.desc().instances.values()].filter((i) => i.state === 'ACTIVE').length);
  if (members.every((k) => k === n) && active.every((k) => k === n)) return true;
  // poll() reports the last error: what each member saw.
  throw new Error(`members per member ${members.join(',')}; ACTIVE per member ${active.join(',')}`);
}

const unhealthyOn = (m: TestMember, id: string) => {
  const inst = m.ring.desc().get(id);
  return inst !== undefined && !m.ring.isHealthy(inst, 'reporting');
};

test('10 gossiping members converge to identical ring descriptors within 5 s', async () => {
  const start = Date.now();
  const ms = await cluster(10);
  await poll(
    '10 identical descriptors with 10 ACTIVE instances, and 10 alive members everywhere',
    () => converged(ms, 10) && ms.every((m) => m.kv.memberlist.numMembers() === 10),
    {
      timeoutMs: 5000 - (Date.now() - start),
    },
  );
  expect(Date.now() - start).toBeLessThan(5000);
  // And the rings built from them agree on placement.
  const token = 0x12345678;
  const sets = ms.map((m) =>
    m.ring
      .get(token)
      .instances.map((i) => i.id)
      .join(','),
  );
  expect(new Set(sets).size).toBe(1);
});

test('a killed member is unhealthy on every other member within heartbeat_timeout + 1 s', async () => {
  const heartbeatTimeoutMs = 1000;
  const ms = await cluster(5, { heartbeatPeriodMs: 200, heartbeatTimeoutMs });
  await poll('5 ACTIVE members everywhere', () => ms.every((m) => m.ring.instances().filter((i) => m.ring.isHealthy(i)).length === 5));
  const victim = ms[2]!;
  const others = ms.filter((m) => m !== victim);
  const killedAt = Date.now();
  await victim.kill();
  await poll(`${victim.instanceId} UNHEALTHY on every other member`, () => others.every((m) => unhealthyOn(m, victim.instanceId)), {
    timeoutMs: heartbeatTimeoutMs + 1000 - (Date.now() - killedAt),
  });
  expect(Date.now() - killedAt).toBeLessThanOrEqual(heartbeatTimeoutMs + 1000);
  // Failure detection agrees: probes, then suspicion, then dead.
  const views = () =>
    others
      .map((m) =>
        m.kv
          .members()
          .map((x) => `${x.name}:${x.state}:${x.incarnation}`)
          .join(' '),
      )
      .join(' | ');
  await poll(
    'the killed member dead in every memberlist',
    () => others.every((m) => m.kv.members().find((x) => x.name === victim.kv.memberlist.name)?.state === 'dead'),
    {
      timeoutMs: 15_000,
    },
  ).catch((err: Error) => {
    throw new Error(`${err.message}; views: ${views()}`);
  });
  // Writes keep a quorum without it (RF 3, extend past the dead one).
  for (const m of others) expect(m.ring.get(0xdeadbeef).instances.map((i) => i.id)).not.toContain(victim.instanceId);
});

test('a partitioned pair heals: both declare the other dead, then converge once packets flow again', async () => {
  const blocked = new Set<string>();
  const filterFor = (self: () => string) => (peer: string) => !blocked.has(`${self()}|${peer}`);
  let addrA = '';
  let addrB = '';
  const a = await startMember(0, { heartbeatPeriodMs: 200, heartbeatTimeoutMs: 1000, packetFilter: filterFor(() => addrA) });
  members.push(a);
  addrA = a.address;
  const b = await startMember(1, { heartbeatPeriodMs: 200, heartbeatTimeoutMs: 1000, packetFilter: filterFor(() => addrB), join: [a.address] });
  members.push(b);
  addrB = b.address;
  await poll('both healthy on both', () => [a, b].every((m) => m.ring.instances().filter((i) => m.ring.isHealthy(i)).length === 2));

  blocked.add(`${addrA}|${addrB}`).add(`${addrB}|${addrA}`);
  await poll(
    'each sees the other dead and unhealthy',
    () =>
      a.kv.members().find((x) => x.name === b.kv.memberlist.name)?.state === 'dead' &&
      b.kv.members().find((x) => x.name === a.kv.memberlist.name)?.state === 'dead' &&
      unhealthyOn(a, b.instanceId) &&
      unhealthyOn(b, a.instanceId),
  );

  blocked.clear();
  await poll('alive again on both sides, identical descriptors, both healthy', () => {
    const alive = a.kv.members().every((x) => x.state === 'alive') && b.kv.members().every((x) => x.state === 'alive');
    const healthy = [a, b].every((m) => m.ring.instances().filter((i) => m.ring.isHealthy(i)).length === 2);
    const ta = a.ring
      .desc()
      .list()
      .map((i) => `${i.id}:${i.state}:${i.tokens.join('.')}`)
      .join();
    const tb = b.ring
      .desc()
      .list()
      .map((i) => `${i.id}:${i.state}:${i.tokens.join('.')}`)
      .join();
    return alive && healthy && ta === tb;
  });
});

test('with a third member, a cut between two is bridged: indirect probes keep both alive and state flows through', async () => {
  const blocked = new Set<string>();
  const addrs: string[] = [];
  const filterFor = (i: number) => (peer: string) => !blocked.has(`${addrs[i]}|${peer}`);
  for (let i = 0; i < 3; i++) {
    const m = await startMember(i, { packetFilter: filterFor(i), join: i === 0 ? [] : [members[0]!.address] });
    members.push(m);
    addrs.push(m.address);
  }
  const [a, b, c] = members as [TestMember, TestMember, TestMember];
  await poll('converged', () => converged([a, b, c], 3));
  blocked.add(`${a.address}|${b.address}`).add(`${b.address}|${a.address}`);
  // Probes need a few rounds to hit the cut pair; over 3 s each has probed the other several times.
  const until = Date.now() + 3000;
  while (Date.now() < until) {
    expect(a.kv.members().find((x) => x.name === b.kv.memberlist.name)?.state).not.toBe('dead');
    expect(b.kv.members().find((x) => x.name === a.kv.memberlist.name)?.state).not.toBe('dead');
    await new Promise((r) => setTimeout(r, 100));
  }
  await a.lifecycler.changeState('LEAVING');
  await poll('A LEAVING on B through C', () => b.ring.desc().get(a.instanceId)?.state === 'LEAVING');
});

test('a restarted member keeps its tokens (tokens file) and rejoins with them', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'stave-ring-'));
  try {
    const tokensFilePath = path.join(dir, 'tokens.json');
    const first = await startMember(0);
    members.push(first);
    const m1 = await startMember(1, { join: [first.address], tokensFilePath });
    const m2 = await startMember(2, { join: [first.address] });
    members.push(m2);
    await poll('converged', () => converged([first, m1, m2], 3));
    const tokens = [...m1.lifecycler.tokens()];

    await m1.stop();
    await poll('ingester-1 gone from the others', () => [first, m2].every((m) => m.ring.desc().get('ingester-1')?.state === 'LEFT'));
    expect(first.ring.instances().map((i) => i.id)).toEqual(['ingester-0', 'ingester-2']);

    const again = await startMember(1, { join: [m2.address], tokensFilePath });
    members.push(again);
    expect(again.lifecycler.tokens()).toEqual(tokens);
    await poll('ingester-1 ACTIVE again everywhere with the same tokens', () =>
      [first, m2, again].every((m) => {
        const e = m.ring.desc().get('ingester-1');
        return e?.state === 'ACTIVE' && e.tokens.join() === tokens.join();
      }),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('members that join at once with colliding tokens end up owning disjoint tokens', async () => {
  // Every member's first draw is the same 16 tokens; later draws (replacements) are random.
  const draws = new Map<number, number>();
  const generator = (index: number) => (n: number, taken: ReadonlySet<number>) => {
    const k = (draws.get(index) ?? 0) + 1;
    draws.set(index, k);
    if (k === 1) return Array.from({ length: n }, (_, i) => (i + 1) * 0x0100_0000);
    const out = new Set<number>();
    while (out.size < n) {
      const t = Math.floor(Math.random() * 0x1_0000_0000);
      if (!taken.has(t)) out.add(t);
    }
    return [...out];
  };
  const first = await startMember(0, { numTokens: 16, heartbeatPeriodMs: 200, tokenGenerator: generator(0) });
  members.push(first);
  const rest = await Promise.all(
    [1, 2, 3, 4].map((i) => startMember(i, { numTokens: 16, heartbeatPeriodMs: 200, join: [first.address], tokenGenerator: generator(i) })),
  );
  members.push(...rest);
  const all = [first, ...rest];
  await poll('every view: 5 instances, 16 tokens each, no token claimed twice, and all views agree', () => {
    const views = all.map((m) =>
      m.ring
        .desc()
        .list()
        .map((i) => `${i.id}=${i.tokens.join('.')}`)
        .join(' '),
    );
    if (new Set(views).size !== 1) return false;
    const d = all[0]!.ring.desc();
    const claimed = d.list().flatMap((i) => i.tokens);
    return d.size === 5 && d.list().every((i) => i.tokens.length === 16) && new Set(claimed).size === claimed.length;
  });
  // Exactly one member kept the contested tokens; and ownership never had a token twice.
  const d = first.ring.desc();
  const keepers = d.list().filter((i) => i.tokens.includes(0x0100_0000));
  expect(keepers).toHaveLength(1);
  const t = tokenOwners(d);
  expect(new Set(t.tokens).size).toBe(t.tokens.length);
});

test('garbage UDP and TCP from a stranger neither crashes a member nor changes its view', async () => {
  const ms = await cluster(3);
  await poll('converged', () => converged(ms, 3));
  const target = ms[0]!;
  const viewBefore = ms.map((m) => descBytes(m.ring.desc()));
  const membersBefore = ms.map((m) => JSON.stringify(m.kv.members().map((x) => [x.name, x.state, x.incarnation])));
  const [host, portStr] = target.address.split(':') as [string, string];
  const port = Number(portStr);

  // UDP: random bytes, truncations of a real packet, a foreign cluster label, valid framing around
  // garbage KV updates and garbage descriptors.
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
  // Paced (the receiver gets a turn of the event loop per packet): loopback drops what overflows the
  // socket buffer, and this test wants every packet to arrive and be judged.
  const send = (b: Uint8Array) => new Promise<void>((r) => udp.send(b, port, host, () => setTimeout(r, 1)));
  const real = encodeEnvelope('', [
    encodeMessage({ type: 'ping', seq: 1, target: target.kv.memberlist.name, source: { name: 'stranger', addr: '127.0.0.1', port: 1 } }),
  ]);
  const garbageUpdate = new Writer().str('collectors/ring').str(ringDescCodec.id).bytes(Buffer.from('not a descriptor')).finish();
  const evilDesc = Buffer.from(
    ringDescCodec.encode(RingDesc.empty.withInstance({ id: 'evil', addr: 'x', zone: '', state: 'ACTIVE', tokens: [1], timestamp: 1, registeredTimestamp: 1 })),
  );
  evilDesc[1] = 0x7f; // instance count now absurd
  const evilUpdate = new Writer().str('collectors/ring').str(ringDescCodec.id).bytes(evilDesc).finish();
  let sent = 0;
  for (let i = 0; i < 200; i++, sent++)
    await send(Buffer.from(Array.from({ length: 1 + Math.floor(Math.random() * 1400) }, () => Math.floor(Math.random() * 256))));
  for (let n = 0; n < real.length; n++, sent++) await send(real.subarray(0, n));
  await send(encodeEnvelope('other-cluster', [encodeMessage({ type: 'user', payload: garbageUpdate })]));
  await send(encodeEnvelope('', [encodeMessage({ type: 'user', payload: garbageUpdate })]));
  await send(encodeEnvelope('', [encodeMessage({ type: 'user', payload: evilUpdate })]));
  await send(encodeEnvelope('', [encodeMessage({ type: 'user', payload: Buffer.from([0xff, 0xff, 1, 2]) })]));
  sent += 4;
  await new Promise<void>((r) => udp.close(() => r()));

  // TCP: random bytes, an absurd frame length, a valid frame around garbage, and a connection that
  // sends nothing (it must be closed by the stream deadline).
  const tcp = async (bytes: Uint8Array | undefined): Promise<void> =>
    new Promise<void>((resolve) => {
      const s = net.connect({ host, port }, () => {
        if (bytes) s.write(bytes);
      });
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      s.resume();
    });
  const framed = (b: Buffer) => {
    const h = Buffer.alloc(4);
    h.writeUInt32BE(b.length);
    return Buffer.concat([h, b]);
  };
  const started = Date.now();
  await Promise.all([
    tcp(framed(Buffer.from(Array.from({ length: 3000 }, () => Math.floor(Math.random() * 256))))),
    tcp(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3])),
    tcp(Buffer.concat([Buffer.from([0x10, 0, 0, 0]), Buffer.alloc(5000, 7)])), // claims 256 MiB
    tcp(framed(Buffer.from('definitely not an envelope'))),
    tcp(framed(encodeEnvelope('', [Buffer.from([8, 0, 0, 0, 3, 1, 2, 3])]))), // push-pull with a 3-byte body
    tcp(undefined), // idle: closed by the 2 s stream deadline
  ]);
  expect(Date.now() - started).toBeLessThan(5000);

  // Every UDP packet is malformed, except one foreign label and the three well-framed garbage updates the
  // KV layer rejects; on TCP three frames are malformed, two oversize, and one idle stream timed out.
  await poll('the garbage counted as dropped', () => {
    const d = target.kv.memberlist.stats().dropped;
    return d.malformed === sent - 4 + 3 && d.label_mismatch === 1 && d.oversize === 2 && d.stream_error === 1;
  });
  expect(ms.map((m) => descBytes(m.ring.desc()))).toEqual(viewBefore);
  expect(ms.map((m) => JSON.stringify(m.kv.members().map((x) => [x.name, x.state, x.incarnation])))).toEqual(membersBefore);
  expect(target.ring.desc().get('evil')).toBeUndefined();

  // Still gossiping: a change made on the target reaches the others.
  await target.lifecycler.changeState('LEAVING');
  await poll('LEAVING gossiped from the target', () => ms.every((m) => m.ring.desc().get(target.instanceId)?.state === 'LEAVING'));
});

test('members with and without compression_enabled gossip together', async () => {
  const a = await startMember(0, { memberlist: { compressStreams: true } });
  members.push(a);
  const b = await startMember(1, { join: [a.address] });
  const c = await startMember(2, { join: [b.address], memberlist: { compressStreams: true } });
  members.push(b, c);
  await poll('converged', () => converged([a, b, c], 3));
});

test('a member with another cluster label cannot join', async () => {
  const a = await startMember(0, { memberlist: { clusterLabel: 'prod' } });
  members.push(a);
  const b = await startMember(1, { join: [a.address], memberlist: { clusterLabel: 'dev', maxJoinRetries: 0 } });
  members.push(b);
  expect(b.kv.joined()).toBe(false);
  expect(a.kv.members().map((m) => m.name)).toEqual([a.kv.memberlist.name]);
  expect(a.ring.desc().get(b.instanceId)).toBeUndefined();
  expect(a.kv.memberlist.stats().dropped.label_mismatch).toBeGreaterThan(0);
});

test('a member that stops leaves: others see it left and its ring entry gone', async () => {
  const ms = await cluster(3);
  await poll('converged', () => converged(ms, 3));
  const leaver = ms[1]!;
  members.splice(members.indexOf(leaver), 1);
  await leaver.stop();
  const rest = ms.filter((m) => m !== leaver);
  await poll('left in memberlist and LEFT in the ring on the others', () =>
    rest.every(
      (m) => m.kv.members().find((x) => x.name === leaver.kv.memberlist.name)?.state === 'left' && m.ring.desc().get(leaver.instanceId)?.state === 'LEFT',
    ),
  );
});

test('a leaver tells every member it knows: six leaves in turn, each LEFT everywhere within 1 s without push/pull', async () => {
  // Gossip alone reaches each member with some probability (a change is sent a few times, to random
  // members; measured: in 3 of 20 leaves from a 7-member cluster some member waited for the next
  // push/pull, up to 30 s). So a leaver sends its last ring change straight to every member it knows.
  const memberlist = { pushPullIntervalMs: 60_000 };
  // Heartbeats carry each member's whole entry, so a registration gossip missed is repaired by the next.
  const ms = await cluster(7, { memberlist, heartbeatPeriodMs: 200 });
  await poll('7 ACTIVE everywhere', () => allActive(ms, 7), { timeoutMs: 20_000 });
  const alive = [...ms];
  for (let i = 0; i < 6; i++) {
    const leaver = alive.splice(1, 1)[0]!;
    members.splice(members.indexOf(leaver), 1);
    await leaver.stop();
    await poll(`${leaver.instanceId} LEFT on every other member`, () => alive.every((m) => m.ring.desc().get(leaver.instanceId)?.state === 'LEFT'), {
      timeoutMs: 1000,
    });
  }
}, 90_000);

test("a leaver's last changes go to every member over TCP: with gossip's UDP lost it is LEFT everywhere long before the next push/pull", async () => {
  // Periodic push/pull far away, and from the leaver's stop on no member's UDP leaves the process: the
  // leaver's broadcasts and everyone's gossip are lost, so only its direct TCP sends can carry the
  // tombstone past the few members it pushes its whole state to.
  let cut = false;
  const memberlist = { pushPullIntervalMs: 60_000 };
  const packetFilter = (_peer: string, direction: 'in' | 'out', transport: 'udp' | 'tcp') => !(cut && direction === 'out' && transport === 'udp');
  // Heartbeats carry each member's whole entry, so a registration gossip missed is repaired by the next.
  const heartbeatPeriodMs = 200;
  const first = await startMember(0, { memberlist, packetFilter, heartbeatPeriodMs });
  members.push(first);
  const rest = await Promise.all(
    Array.from({ length: 6 }, (_, i) => startMember(i + 1, { join: [first.address], memberlist, packetFilter, heartbeatPeriodMs })),
  );
  // Registered for afterEach too, so a failure before the leaver's stop leaves no sockets open behind the test.
  members.push(...rest);
  const leaver = rest.pop()!;
  const others = [first, ...rest];
  await poll('7 ACTIVE everywhere', () => allActive([...others, leaver], 7), { timeoutMs: 20_000 });
  cut = true;
  await leaver.stop();
  await poll('LEFT in the ring on every other member', () => others.every((m) => m.ring.desc().get(leaver.instanceId)?.state === 'LEFT'), {
    timeoutMs: 15_000,
  });
}, 60_000);

test('a change learnt by push/pull is gossiped on: a change that reached one member over TCP reaches the others long before the next push/pull', async () => {
  // The source's UDP is cut and so is its TCP to `a`: its change reaches `b` only, by a push/pull, and
  // `a` can learn it only from b's gossip (push/pull is a minute apart, heartbeats 30 s).
  let cut = false;
  const memberlist = { pushPullIntervalMs: 60_000 };
  const a = await startMember(0, { memberlist });
  members.push(a);
  const b = await startMember(1, { join: [a.address], memberlist });
  members.push(b);
  const source = await startMember(2, {
    join: [a.address],
    memberlist,
    packetFilter: (peer, direction, transport) => !(cut && direction === 'out' && (transport === 'udp' || peer === a.address)),
  });
  members.push(source);
  await poll('3 ACTIVE everywhere', () => allActive([a, b, source], 3), { timeoutMs: 20_000 });
  cut = true;
  await source.lifecycler.changeState('LEAVING');
  // One of the two exchanges is refused by the filter: only b's answers.
  expect(await source.kv.memberlist.pushPullMembers(2)).toBe(1);
  expect(b.ring.desc().get(source.instanceId)?.state).toBe('LEAVING');
  await poll('LEAVING on a', () => a.ring.desc().get(source.instanceId)?.state === 'LEAVING', { timeoutMs: 15_000 });
}, 60_000);
