/** An error the user caused (a bad file, an unsupported model, too little memory): its message is a sentence for them. */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}
