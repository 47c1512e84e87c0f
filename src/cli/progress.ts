/**
 * Progress: on a terminal, one line redrawn in place (iteration, losses,
 * test error, rate, ETA); otherwise plain lines at each logging interval.
 * @module
 */

import { duration } from "../util/format.ts";
import type { TestProgress } from "../data/source.ts";

const enc = new TextEncoder();

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

/**
 * A listener for long synchronous work (an evaluation on a large test set)
 * that stays silent unless the work takes over `quietSeconds`, then prints a
 * line at most every `everySeconds`: "evaluating: 12000/26032 test images
 * (4s, about 5s left)".
 */
export function slowWork(
  print: (line: string) => void,
  what = "evaluating",
  quietSeconds = 3,
  everySeconds = 5,
): TestProgress {
  const t0 = performance.now();
  let shown = -Infinity;
  return (done, total) => {
    const seconds = (performance.now() - t0) / 1000;
    if (seconds < quietSeconds || done >= total || seconds - shown < everySeconds) return;
    shown = seconds;
    const left = (seconds / done) * (total - done);
    print(
      `${what}: ${done}/${total} test samples (${duration(seconds)}, about ${duration(left)} left)`,
    );
  };
}
