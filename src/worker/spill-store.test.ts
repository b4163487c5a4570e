import { describe, expect, it } from 'vitest';
import { hasOpfs, NO_OPFS, roomRefusal, spillRefusal } from './spill-store';

describe("disk offload in the browser's storage", () => {
  it('is refused with a sentence where there is no origin-private file system', async () => {
    // Node has no OPFS: the same check the worker makes before a disk-offloaded run.
    expect(hasOpfs()).toBe(false);
    expect(hasOpfs({})).toBe(false);
    expect(await spillRefusal(1)).toBe(NO_OPFS);
    expect(NO_OPFS).toMatch(/: choose host memory or none for Offload activations\.$/);
  });

  it("refuses a run whose saved activations would not fit the storage's free room, before it starts", () => {
    expect(roomRefusal(50e6, { quota: 200e6, usage: 100e6 })).toBeNull();
    expect(roomRefusal(150e6, { quota: 200e6, usage: 100e6 })).toBe(
      "Offload to disk would keep up to about 150.0 MB of saved activations in this browser's storage, but only 100.0 MB is free there: free browser storage (other sites' data, in the browser's settings), or choose host memory or none for Offload activations.",
    );
    // A browser that does not say: the run goes, and a full storage mid-run stops it with its own sentence.
    expect(roomRefusal(150e6, {})).toBeNull();
  });
});
