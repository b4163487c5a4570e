// A static check of the regular expressions a tokenizer.json brings (normalizers, pre-tokenizers,
// decoders): a repeated group that itself repeats, as in (a+)+ or (\s*x*)*, backtracks
// exponentially on text that almost matches, so loading such a tokenizer could hang the page or
// the command on the first document. Patterns of real tokenizers never nest repetition.

/** Length of the quantifier at i ({n,m} included), whether it repeats (more than once), or null when none starts there. */
function quantifierAt(p: string, i: number): { length: number; repeats: boolean } | null {
  const c = p[i];
  if (c === '*' || c === '+') return { length: 1, repeats: true };
  if (c === '?') return { length: 1, repeats: false };
  if (c !== '{') return null;
  const m = /^\{(\d*)(,?)(\d*)\}/.exec(p.slice(i));
  if (!m || (m[1] === '' && m[3] === '')) return null;
  const most = m[2] ? (m[3] === '' ? Infinity : Number(m[3])) : Number(m[1]);
  return { length: m[0].length, repeats: most > 1 };
}

/** Where the character class starting at i ends (the index after its closing bracket). */
function classEnd(p: string, i: number): number {
  let j = i + 1;
  if (p[j] === '^') j++;
  if (p[j] === ']') j++;
  while (j < p.length && p[j] !== ']') j += p[j] === '\\' ? 2 : 1;
  return j + 1;
}

/** Where the atom starting at i ends: an escape (with \p{..}, \x{..} and the like), a class, or one character. */
function atomEnd(p: string, i: number): number {
  if (p[i] === '[') return classEnd(p, i);
  if (p[i] !== '\\') return i + 1;
  const braced = /^\\[pPxuk]\{[^}]*\}/.exec(p.slice(i));
  return braced ? i + braced[0].length : i + 2;
}

/** True when a group that contains a repeating quantifier is itself repeated (nested quantifiers). */
export function hasNestedQuantifier(p: string): boolean {
  const stack: boolean[] = [false]; // per open group: whether something inside it repeats
  let i = 0;
  while (i < p.length) {
    let repeatsInside = false;
    if (p[i] === '(') {
      stack.push(false);
      i += p[i + 1] === '?' ? 2 : 1; // (?:, (?=, (?<name> ... : the ? is not a quantifier
      continue;
    }
    if (p[i] === ')') {
      repeatsInside = stack.length > 1 ? stack.pop()! : false;
      i++;
    } else if (p[i] === '|') {
      i++;
      continue;
    } else {
      i = atomEnd(p, i);
    }
    const q = quantifierAt(p, i);
    if (q) {
      if (q.repeats && repeatsInside) return true;
      if (q.repeats) stack[stack.length - 1] = true;
      i += q.length;
      if (p[i] === '?' || p[i] === '+') i++; // lazy or possessive
    }
    if (repeatsInside) stack[stack.length - 1] = true;
  }
  return false;
}

/** Every regular expression ({"Regex": "..."}) inside a tokenizer.json part, with where it sits. */
export function tokenizerRegexes(json: unknown, path: string): { path: string; pattern: string }[] {
  const out: { path: string; pattern: string }[] = [];
  const todo: [unknown, string][] = [[json, path]];
  while (todo.length) {
    const [v, at] = todo.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    const regex = (v as { Regex?: unknown }).Regex;
    if (typeof regex === 'string') out.push({ path: at, pattern: regex });
    for (const [k, x] of Object.entries(v)) todo.push([x, Array.isArray(v) ? `${at}[${k}]` : `${at}.${k}`]);
  }
  return out;
}
