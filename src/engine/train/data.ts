// Datasets: text files in, fixed-length token windows out. Each document is cut into
// consecutive windows of exactly ctx tokens (documents shorter than ctx are skipped), and the
// windows are visited in a seeded shuffled order.
import { gunzipSync } from 'fflate';
import { UserError } from '../errors';
import { mulberry32 } from './random';

export interface Document {
  name: string;
  text: string;
}

/** A dataset file name the studio and `lemo` read: .txt, .md or .jsonl, each optionally gzipped (.gz). */
export const DATASET_NAME = /\.(txt|md|jsonl)(\.gz)?$/i;

/** Splits .txt/.md (one document) and .jsonl (a `text` field per line) into documents; a .gz suffix is the same format compressed. */
export function parseDataset(name: string, content: string): Document[] {
  if (!content.trim()) throw new UserError(`${name} is empty: there is no text to train on.`);
  if (/\.jsonl(\.gz)?$/i.test(name)) {
    const docs: Document[] = [];
    content.split('\n').forEach((line, i) => {
      if (!line.trim()) return;
      let obj: unknown;
      try {
        obj = JSON.parse(line);
      } catch {
        throw new UserError(`${name}, line ${i + 1}: not valid JSON.`);
      }
      const text = (obj as { text?: unknown })?.text;
      if (typeof text !== 'string') {
        const keys = obj && typeof obj === 'object' && !Array.isArray(obj) ? Object.keys(obj) : [];
        const has = keys.length ? ` (it has ${keys.slice(0, 5).map((k) => `"${k}"`).join(', ')})` : '';
        throw new UserError(`${name}, line ${i + 1}: no "text" field with a string${has}; each JSONL line needs {"text": "..."}.`);
      }
      if (text.trim()) docs.push({ name: `${name}:${i + 1}`, text });
    });
    if (docs.length === 0) throw new UserError(`${name} has no lines with text.`);
    return docs;
  }
  return [{ name, text: content }];
}

/**
 * The largest dataset read, compressed or not: 512 MiB of text is some 130 M tokens, many minutes
 * of tokenizing and far more than a fine-tune here draws on. Devices and pipes are read up to it.
 */
export const MAX_DATASET_BYTES = 512 * 2 ** 20;

const mib = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;

/**
 * Refuses a dataset of more bytes than MAX_DATASET_BYTES. `partial`: the bytes are what was read
 * of something longer (a pipe, or a gzip trailer's size); `unzipped`: they are decompressed bytes.
 */
export function checkDatasetSize(name: string, bytes: number, how: { partial?: boolean; unzipped?: boolean } = {}): void {
  if (bytes <= MAX_DATASET_BYTES) return;
  const size = how.partial ? `more than ${mib(MAX_DATASET_BYTES)}` : mib(bytes);
  throw new UserError(
    `${name} is ${size}${how.unzipped ? ' once decompressed' : ''}, more than the ${mib(MAX_DATASET_BYTES)} a dataset may have: give a part of it (split it into smaller files and pick some).`,
  );
}

/** A gzip member's content (the shipped datasets are gzipped JSONL); a damaged one is named, one too large refused before it is inflated. */
function gunzip(name: string, bytes: Uint8Array): Uint8Array {
  // The trailer's size (modulo 4 GiB) of the last member.
  const n = bytes.length;
  if (n >= 18) checkDatasetSize(name, (bytes[n - 4] | (bytes[n - 3] << 8) | (bytes[n - 2] << 16) | (bytes[n - 1] << 24)) >>> 0, { partial: true, unzipped: true });
  try {
    return gunzipSync(bytes);
  } catch {
    throw new UserError(`${name} starts like a gzip file but does not decompress; it may be cut short. Give the file again, or uncompressed.`);
  }
}

/** Where the bytes stop being UTF-8: the offset of the first invalid sequence, or -1. */
function firstInvalidUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length; ) {
    const c = b[i];
    const n = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (n < 0 || i + n >= b.length) return i;
    for (let k = 1; k <= n; k++) if ((b[i + k] & 0xc0) !== 0x80) return i;
    // Overlong three-byte forms, UTF-16 surrogates, and code points past U+10FFFF.
    if ((c === 0xe0 && b[i + 1] < 0xa0) || (c === 0xed && b[i + 1] >= 0xa0) || (c === 0xf0 && b[i + 1] < 0x90) || (c === 0xf4 && b[i + 1] >= 0x90)) return i;
    i += n + 1;
  }
  return -1;
}

/**
 * A dataset file's bytes as text: binary files (a NUL byte in the first 8000, as git decides,
 * or more than 1% control characters) and invalid UTF-8 are refused with the place they start.
 */
export function decodeDataset(name: string, bytes: Uint8Array): string {
  if (bytes.length === 0) throw new UserError(`${name} is empty: there is no text to train on.`);
  checkDatasetSize(name, bytes.length);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    bytes = gunzip(name, bytes);
    checkDatasetSize(name, bytes.length, { unzipped: true });
  }
  const lineAt = (offset: number) => 1 + bytes.subarray(0, offset).reduce((n, x) => n + (x === 10 ? 1 : 0), 0);
  const nul = bytes.subarray(0, 8000).indexOf(0);
  if (nul >= 0) throw new UserError(`${name} is a binary file, not text (a zero byte at offset ${nul}); give a .txt, .md or .jsonl file.`);
  const bad = firstInvalidUtf8(bytes);
  if (bad >= 0) {
    throw new UserError(`${name} is not valid UTF-8 text: byte ${bad} (line ${lineAt(bad)}) is 0x${bytes[bad].toString(16).padStart(2, '0')}, which UTF-8 does not allow there. Save the file as UTF-8.`);
  }
  const text = new TextDecoder('utf-8').decode(bytes);
  let control = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 32 && c !== 9 && c !== 10 && c !== 13 && c !== 12) || c === 127) control++;
  }
  if (control > text.length / 100) throw new UserError(`${name} looks like a binary file, not text (${control} control characters in ${text.length}); give a .txt, .md or .jsonl file.`);
  return text;
}

export function windows(docs: number[][], ctx: number): number[][] {
  const out: number[][] = [];
  for (const d of docs) {
    if (d.length < ctx) continue;
    let s = 0;
    for (; s + ctx <= d.length; s += ctx) out.push(d.slice(s, s + ctx));
    // A tail of at least half a window is kept as the document's last ctx tokens.
    if (d.length - s >= ctx / 2) out.push(d.slice(d.length - ctx));
  }
  return out;
}

/** Endless seeded stream of batches of windows of equal length. */
export class WindowSampler {
  private order: number[] = [];
  private at = 0;
  private epoch = 0;
  constructor(private readonly all: number[][], private readonly seed: number) {
    if (all.length === 0) throw new UserError('The dataset has no document long enough for one training window; lower the context length or add text.');
    this.reshuffle();
  }
  private reshuffle(): void {
    const r = mulberry32(this.seed + this.epoch * 7919);
    this.order = this.all.map((_, i) => i);
    for (let i = this.order.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [this.order[i], this.order[j]] = [this.order[j], this.order[i]];
    }
    this.at = 0;
  }
  next(batch: number): number[][] {
    const out: number[][] = [];
    while (out.length < batch) {
      if (this.at >= this.order.length) {
        this.epoch++;
        this.reshuffle();
      }
      out.push(this.all[this.order[this.at++]]);
    }
    return out;
  }
  get size(): number {
    return this.all.length;
  }
  /** Where the stream stands: the epoch (whose order follows from the seed) and the position in it. */
  get state(): SamplerState {
    return { epoch: this.epoch, at: this.at, windows: this.all.length };
  }
  /** Continues from a saved state, as if the windows before it had been drawn. */
  restore(s: SamplerState): void {
    if (s.windows !== this.all.length || !Number.isInteger(s.epoch) || s.epoch < 0 || !Number.isInteger(s.at) || s.at < 0 || s.at > this.all.length) {
      throw new UserError(`The saved data position (epoch ${s.epoch}, window ${s.at} of ${s.windows}) does not fit this dataset of ${this.all.length} windows.`);
    }
    this.epoch = s.epoch;
    this.reshuffle();
    this.at = s.at;
  }
}

export interface SamplerState {
  epoch: number;
  at: number;
  /** Windows in the dataset it was taken from. */
  windows: number;
}
