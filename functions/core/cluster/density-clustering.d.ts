// The one part of density-clustering (CommonJS, untyped) that Faceprint uses.
declare module 'density-clustering' {
  class DBSCAN {
    run(
      dataset: number[][],
      epsilon: number,
      minPts: number,
      distance: (a: number[], b: number[]) => number,
    ): number[][];
  }
  const densityClustering: { DBSCAN: typeof DBSCAN };
  export default densityClustering;
}
