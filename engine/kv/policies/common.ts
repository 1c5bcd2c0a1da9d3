// Small helpers the policy files share.

import { KvGeometry } from '../geometry';
import { HeadPlan } from '../policy';

/** heads[layer][kvHead] = make(layer, kvHead). */
export function forEachHead(g: KvGeometry, make: (layer: number, kvHead: number) => HeadPlan): HeadPlan[][] {
  const heads: HeadPlan[][] = [];
  for (let l = 0; l < g.layers; l++) {
    const row: HeadPlan[] = [];
    for (let h = 0; h < g.kvHeads; h++) row.push(make(l, h));
    heads.push(row);
  }
  return heads;
}

export function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}
