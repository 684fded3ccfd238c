/**
 * to_nsq's throttle (spec §6.4): a token balance that starts at 1, grows by one every
 * 1s/rate up to `rate`, and is spent one token per publish.
 */
export class RateLimiter {
  private balance = 1;
  private last = performance.now();
  private readonly intervalMs: number;

  constructor(private readonly rate: number) {
    this.intervalMs = 1000 / rate;
  }

  /** Resolves when a token is available and spends it. */
  async take(): Promise<void> {
    for (;;) {
      const now = performance.now();
      this.balance = Math.min(this.rate, this.balance + (now - this.last) / this.intervalMs);
      this.last = now;
      if (this.balance >= 1) {
        this.balance -= 1;
        return;
      }
      await Bun.sleep(Math.max(1, (1 - this.balance) * this.intervalMs));
    }
  }
}
