/**
 * Progress: on a terminal, one line redrawn in place (iteration, losses,
 * test error, rate, ETA); otherwise plain lines at each logging interval.
 * @module
 */

const enc = new TextEncoder();

/** A duration for people: 42s, 3m07s, 1h12m. */
export function duration(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** Reports training progress on stdout. */
export class Progress {
  readonly #tty: boolean;
  #error = NaN;
  #drawn = false;

  constructor(readonly total: number, tty = Deno.stdout.isTerminal()) {
    this.#tty = tty;
  }

  /** The status after `iteration` iterations. */
  update(iteration: number, metrics: Record<string, number>, rate: number): void {
    const parts = Object.entries(metrics).map(([k, v]) => `${k} ${v.toPrecision(4)}`);
    const err = Number.isNaN(this.#error) ? "" : `  test error ${this.#error.toFixed(2)}%`;
    const eta = duration((this.total - iteration) / rate);
    const status = `${iteration}/${this.total}  ${parts.join("  ")}${err}  ${
      rate.toFixed(1)
    } it/s  ETA ${eta}`;
    if (this.#tty) {
      const width = 24;
      const filled = Math.round((width * iteration) / this.total);
      const bar = `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
      Deno.stdout.writeSync(enc.encode(`\r\x1b[2K${bar} ${status}`));
      this.#drawn = true;
    } else {
      console.log(`iteration ${status}`);
    }
  }

  /** Records the latest test error (shown with the next update). */
  testError(iteration: number, error: number): void {
    this.#error = error;
    if (!this.#tty) {
      console.log(`iteration ${iteration}/${this.total}  test error ${error.toFixed(2)}%`);
    }
  }

  /** Prints a line of its own, below the bar. */
  line(text: string): void {
    this.finish();
    console.log(text);
  }

  /** Ends the redrawn line. */
  finish(): void {
    if (this.#drawn) Deno.stdout.writeSync(enc.encode("\n"));
    this.#drawn = false;
  }
}
