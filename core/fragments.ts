/**
 * How a file is cut into fragments: one per node, in node-list order (fragment i goes to node i),
 * each ceil(size / nodes) bytes and the last one shorter. Pure.
 */
export interface FragmentPlan {
  index: number;
  offsetBytes: number;
  sizeBytes: number;
}

export class FragmentPlanError extends Error {
  override readonly name = 'FragmentPlanError';
}

export function planFragments(fileBytes: number, nodeCount: number): FragmentPlan[] {
  if (!Number.isSafeInteger(nodeCount) || nodeCount < 1) {
    throw new FragmentPlanError(`need at least one node (got ${nodeCount})`);
  }
  if (!Number.isSafeInteger(fileBytes) || fileBytes < nodeCount) {
    throw new FragmentPlanError(
      `the file has ${fileBytes} bytes, fewer than the ${nodeCount} nodes: every node must get at least one byte`,
    );
  }
  const size = Math.ceil(fileBytes / nodeCount);
  const out: FragmentPlan[] = [];
  for (let i = 0; i < nodeCount; i++) {
    const offsetBytes = i * size;
    const sizeBytes = Math.min(size, fileBytes - offsetBytes);
    if (sizeBytes < 1) {
      // ceil() can leave the tail nodes with nothing (e.g. 10 bytes over 4 nodes = 3,3,3,1 is fine,
      // but 9 bytes over 6 nodes = 2,2,2,2,1,0): say so instead of sending an empty fragment.
      throw new FragmentPlanError(
        `${fileBytes} bytes in fragments of ceil(${fileBytes}/${nodeCount}) = ${size} bytes leave node ${i + 1} of ${nodeCount} without a byte; use fewer nodes or a larger file`,
      );
    }
    out.push({ index: i, offsetBytes, sizeBytes });
  }
  return out;
}
