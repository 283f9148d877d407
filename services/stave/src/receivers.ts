// The receivers the distributor runs: exactly those listed under distributor.receivers, as in Tempo.

import type { TracePusher } from '@stave/receivers';
import type { AppContext, Service } from '@stave/server';

export function receiverServices(_ctx: AppContext, _pusher: TracePusher): Service[] {
  return [];
}
