// Progress for long work: a bar redrawn in place on a terminal, plain
// periodic lines when the output is a file or a pipe (CI logs stay readable).

/** `[##########··········]  25/50` */
export function renderProgressBar(done: number, total: number, width = 30): string {
  const fraction = total <= 0 ? 1 : Math.min(1, Math.max(0, done / total));
  const filled = Math.round(fraction * width);
  const digits = String(total).length;
  return `[${"#".repeat(filled)}${"·".repeat(width - filled)}] ${String(done).padStart(digits)}/${total}`;
}

/** For plain output: report at every `step` (a tenth of the work, at least 1) and at the end. */
export function isMilestone(done: number, total: number, parts = 10): boolean {
  const step = Math.max(1, Math.ceil(total / parts));
  return done === total || done % step === 0;
}

export interface ProgressStream {
  isTTY?: boolean;
  write(text: string): unknown;
}

export interface Progress {
  tick(done: number): void;
  finish(): void;
}

/** A progress reporter for `total` units, labelled, on `stream`. */
export function progressReporter(label: string, total: number, stream: ProgressStream): Progress {
  let last = -1;
  let finished = false;
  const draw = (done: number) => {
    if (stream.isTTY) stream.write(`\r${label} ${renderProgressBar(done, total)}`);
    else if (isMilestone(done, total) && done !== last) stream.write(`${label} ${done}/${total}\n`);
    last = done;
  };
  return {
    tick(done) {
      if (!finished && done !== last) draw(done);
    },
    finish() {
      if (finished) return;
      finished = true;
      if (stream.isTTY) stream.write("\n");
    },
  };
}
