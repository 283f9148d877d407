// Bytes from outside that do not decode — gossip packets and ring descriptors (@stave/ring), OTLP protobuf
// (@stave/model) — are one error: thrown by the bounded readers, caught where the bytes came in (dropped
// and counted, or answered InvalidArgument). `offset` is where in the input the problem is, when known.

export class WireError extends Error {
  constructor(
    message: string,
    readonly offset?: number,
  ) {
    super(message);
    this.name = 'WireError';
  }
}
