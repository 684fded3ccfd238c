/**
 * Splits a byte stream into records at a one-byte delimiter. Records are views into the
 * received chunks; a record spanning chunks is joined once, when its end arrives.
 */
export class DelimitedSplitter {
  private parts: Buffer[] = [];
  private partsLength = 0;

  constructor(private readonly delimiter: number) {}

  /** Calls `emit` for every complete record in `chunk` (empty records included). */
  push(chunk: Buffer, emit: (record: Buffer) => void): void {
    let start = 0;
    let at = chunk.indexOf(this.delimiter, start);
    while (at >= 0) {
      if (this.partsLength > 0) {
        this.parts.push(chunk.subarray(start, at));
        emit(Buffer.concat(this.parts, this.partsLength + (at - start)));
        this.parts = [];
        this.partsLength = 0;
      } else {
        emit(chunk.subarray(start, at));
      }
      start = at + 1;
      at = chunk.indexOf(this.delimiter, start);
    }
    if (start < chunk.length) {
      this.parts.push(chunk.subarray(start));
      this.partsLength += chunk.length - start;
    }
  }

  /** End of input: a final record without a trailing delimiter is emitted whole. */
  end(emit: (record: Buffer) => void): void {
    if (this.partsLength > 0) emit(Buffer.concat(this.parts, this.partsLength));
    this.parts = [];
    this.partsLength = 0;
  }
}
