// Reading a running Stave process's status over HTTP: its metrics and its ring pages (Tempo's JSON shape).

export interface RingShard {
  id: string;
  state: string;
  address: string;
  tokens: number[];
}

/** The sum of every series of metric `name` on a /metrics page whose labels contain every `match` (0 when absent). */
export async function metricSum(metricsUrl: string, name: string, ...match: string[]): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.split(/[{ ]/)[0] === name && match.every((m) => line.includes(m))) sum += Number(line.split(' ').pop());
  return sum;
}

/** The members of a ring page (`/ingester/ring`, `/compactor/ring`, ...) asked for as JSON. */
export async function ringShards(ringUrl: string): Promise<RingShard[]> {
  const res = await fetch(ringUrl, { headers: { accept: 'application/json' } });
  if (res.status !== 200) throw new Error(`${ringUrl}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { shards: RingShard[] }).shards;
}
