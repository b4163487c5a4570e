// Which shipped model the page opens: the default, or another named by `?model=NAME`
// (the end-to-end tests open the small test model this way).
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
