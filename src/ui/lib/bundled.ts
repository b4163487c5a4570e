// Which shipped model the page opens: the default, or another named by `?model=NAME`
// (the end-to-end tests open the small test model this way); and `?memory=GiB`, the memory the
// page plans for instead of what the browser reports (to see what fits a smaller machine).
import { BUNDLED_MODELS, type BundledModel } from '../../engine/settings';

function chosen(): BundledModel {
  const name = typeof location === 'undefined' ? null : new URLSearchParams(location.search).get('model');
  return name !== null && name in BUNDLED_MODELS ? (name as BundledModel) : (Object.keys(BUNDLED_MODELS)[0] as BundledModel);
}

const name = chosen();
const paths = BUNDLED_MODELS[name];
/** Files under public/, named as the page shows them. */
const underData = (path: string) => ({ name: path.replace(/^data\//, ''), url: `/${path}` });

export const BUNDLED = {
  model: { name, url: `/${paths.model}` },
  data: [underData(paths.data)],
  heldout: [underData(paths.heldout)],
  /** The run settings this model starts with, over the defaults. */
  settings: paths.settings as Partial<{ ctx: number }>,
};

/** The memory budget `?memory=GiB` asks for, in bytes (undefined: the device's as reported). */
export const MEMORY_OVERRIDE: number | undefined = (() => {
  const v = typeof location === 'undefined' ? null : new URLSearchParams(location.search).get('memory');
  const gib = v === null ? NaN : Number(v);
  return Number.isFinite(gib) && gib > 0 ? gib * 2 ** 30 : undefined;
})();
