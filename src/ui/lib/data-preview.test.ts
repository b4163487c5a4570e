import { describe, expect, it } from 'vitest';
import { previewText } from './data-preview';

describe('previewText', () => {
  it('shows the beginning of plain text, and the text fields of JSONL documents', () => {
    expect(previewText('a.txt', 'x'.repeat(50), 10)).toBe('x'.repeat(10));
    const jsonl = [JSON.stringify({ text: 'First document.' }), '', JSON.stringify({ text: 'Second "one".' }), JSON.stringify({ text: 'Third.' })].join('\n');
    expect(previewText('b.jsonl.gz', jsonl, 1000)).toBe('First document.\n\nSecond "one".\n\nThird.');
    expect(previewText('b.jsonl', jsonl, 20)).toBe('First document.\n\nSec');
  });
});
