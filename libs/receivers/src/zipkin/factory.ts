// Builds the Zipkin receiver when the config lists it (distributor.receivers.zipkin.endpoint), as in Tempo.

import type { Logger } from '@stave/server';
import type { TracePusher } from '../pusher';
import { ZipkinReceiver } from './zipkin-receiver';

export function createZipkinReceiver(cfg: { endpoint: string } | undefined, deps: { pusher: TracePusher; logger: Logger }): ZipkinReceiver | undefined {
  return cfg ? new ZipkinReceiver({ pusher: deps.pusher, logger: deps.logger, endpoint: cfg.endpoint }) : undefined;
}
