// Sizes as the command line prints them: MB = 10⁶ bytes, as the studio page and the model card count.

/** Bytes in MB (10⁶ bytes), one decimal, without the unit. */
export function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}
