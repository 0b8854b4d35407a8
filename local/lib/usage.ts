// A bad flag or --help: the message to print (none after --help) and the exit
// code. Its own module, free of components/ imports, so that support/entry.ts
// can handle it before the component loader is registered.
export class UsageError extends Error {
  /** 0 after --help / --version, 2 for a bad flag. */
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = "UsageError";
    this.exitCode = exitCode;
  }
}
