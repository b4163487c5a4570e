// JSON from a file a user gives (config.json, tokenizer.json, adapter and run files), with its
// nesting limited: a value nested thousands of levels deep parses, then overflows the stack of
// whatever walks it later (JSON.stringify, structured cloning to a worker, schema checks).
import { UserError } from '../errors';

/** The deepest nesting taken; the files read here nest a handful of levels. */
export const MAX_JSON_DEPTH = 64;

/** Refuses JSON text whose arrays and objects nest deeper than MAX_JSON_DEPTH (strings skipped). */
export function checkJsonDepth(text: string, what: string): void {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // a string: skip to its closing quote, past escapes
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_JSON_DEPTH) throw new UserError(`${what} nests its values more than ${MAX_JSON_DEPTH} levels deep, which no such file does: it is damaged or not the file meant.`);
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
}

/** Refuses a parsed value nested deeper than MAX_JSON_DEPTH (for values that arrive already parsed). */
export function checkValueDepth(value: unknown, what: string): void {
  const todo: [unknown, number][] = [[value, 1]];
  while (todo.length) {
    const [v, depth] = todo.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth > MAX_JSON_DEPTH) throw new UserError(`${what} nests its values more than ${MAX_JSON_DEPTH} levels deep, which no such file does: it is damaged or not the file meant.`);
    for (const x of Object.values(v)) todo.push([x, depth + 1]);
  }
}

/** Parses JSON text from a file, refusing text that is not JSON or nests too deep; `what` names the file. */
export function parseJsonText(text: string, what: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${what} is not valid JSON: ${(e as Error).message}`);
  }
  checkJsonDepth(text, what);
  return value;
}
