/** An error the user caused (a bad file, an unsupported model, too little memory): its message is a sentence for them. */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/**
 * A run that stopped between steps for a reason the user can act on (bad steps in a row, a
 * checkpoint that could not be stored): the adapter is intact as it was after `lastGoodStep`
 * (0: no step was applied), so a shell can still write it.
 */
export class RunStopped extends UserError {
  constructor(message: string, readonly lastGoodStep: number) {
    super(message);
    this.name = 'RunStopped';
  }
}

/**
 * The store of disk offload failed during a step (full, gone): nothing of that step was applied,
 * so the run stops with the adapter of its last good step. The message says what to change.
 */
export class OffloadFailed extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'OffloadFailed';
  }
}
