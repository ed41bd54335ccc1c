/** Types for munkres-js 1.2.2 (CommonJS, ships none): the Hungarian algorithm over a cost matrix. */
declare module 'munkres-js' {
  /** Optimal assignment of rows to columns (rectangular matrices are padded); returns [row, column] pairs. */
  function computeMunkres(costMatrix: number[][], options?: { padValue?: number }): [number, number][];
  export default computeMunkres;
}
