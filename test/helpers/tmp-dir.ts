// Vitest's and Playwright's global setup: every temporary folder the tests make (theirs, and the
// CLI's or the browser's they start, which read TMPDIR) goes under one folder of this run, removed
// when the run ends.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'lemo-tests-'));
  process.env.TMPDIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
