// Models Faceprint derives from a pinned package's model by a fixed graph edit, named by `source.derive` in
// layers/models/manifest.json. scripts/models.mjs checks the source file's sha256 (`source.sha256`), runs the
// recipe, and checks the result against the entry's own sha256, so a derived file is as pinned as a copied one.
// The edit is written here with onnx-proto (protobuf definitions of ONNX) because no npm package edits ONNX
// graphs: the recipes only cut and relabel the graph, they never change a weight.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/**
 * `ulfd-raw-heads`: the Ultra-Light-Fast-Generic detector (RFB-320) as exported by its authors has a fixed
 * 320×240 input and decodes its boxes inside the graph against 4,420 constant priors, which is the only thing
 * that ties it to that size (its heads' reshapes read their sizes from `Shape`). This cuts the graph at the raw
 * heads — `scores` (softmax over background/face) and the concatenated SSD location offsets, renamed
 * `locations` — drops the nodes and initialisers that only served the decoding, and makes the input's height
 * and width symbolic. functions/core/pipeline/ulfd.ts rebuilds the priors for any input size and decodes.
 */
function ulfdRawHeads(model) {
  const graph = model.graph;
  const producers = new Map();
  for (const node of graph.node) for (const out of node.output) producers.set(out, node);
  const ancestors = (names) => {
    const found = new Set();
    const pending = [...names];
    while (pending.length > 0) {
      const node = producers.get(pending.pop());
      if (!node || found.has(node)) continue;
      found.add(node);
      pending.push(...node.input);
    }
    return found;
  };
  const heads = ancestors(['scores']);
  const softmax = producers.get('scores');
  const scoreConcat = producers.get(softmax?.input[0]);
  if (softmax?.opType !== 'Softmax' || scoreConcat?.opType !== 'Concat') {
    throw new Error('"scores" is not a Softmax over the heads\' concatenated confidences');
  }
  // The location offsets: the Concat, outside the confidence branch, of one reshaped output per head, as the
  // confidences are; everything after it is the decoding this recipe removes.
  const candidates = [...ancestors(['boxes'])].filter(
    (n) =>
      !heads.has(n) &&
      n.opType === 'Concat' &&
      n.input.length === scoreConcat.input.length &&
      n.input.every((name) => producers.get(name)?.opType === 'Reshape'),
  );
  if (candidates.length !== 1) {
    throw new Error(
      `expected one Concat of the heads' location offsets before the box decoding, found ${candidates.length}`,
    );
  }
  const frontier = candidates[0].output;
  const [locations] = frontier;
  producers.get(locations).output = ['locations'];
  producers.clear();
  for (const node of graph.node) for (const out of node.output) producers.set(out, node);
  const kept = new Set([...heads, ...ancestors(['locations'])]);
  const used = new Set([...kept].flatMap((n) => n.input));
  graph.node = graph.node.filter((n) => kept.has(n));
  graph.initializer = graph.initializer.filter((t) => used.has(t.name));
  graph.valueInfo = [];

  const [input] = graph.input;
  if (!input || graph.input.length !== 1) throw new Error('expected one graph input');
  const dims = input.type.tensorType.shape.dim;
  dims[2] = { dimParam: 'height' };
  dims[3] = { dimParam: 'width' };
  const output = (name, width) => ({
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: [{ dimValue: 1 }, { dimParam: 'priors' }, { dimValue: width }] },
      },
    },
  });
  graph.output = [output('scores', 2), output('locations', 4)];
  return model;
}

const RECIPES = { 'ulfd-raw-heads': ulfdRawHeads };

/**
 * Applies the recipe `name` to the ONNX bytes of its source model and returns the derived model's bytes.
 *
 * @throws Error for an unknown recipe or a source model whose graph is not the one the recipe was written for.
 */
export function deriveModel(name, sourceBytes) {
  const recipe = RECIPES[name];
  if (!recipe) throw new Error(`unknown recipe "${name}" (known: ${Object.keys(RECIPES).join(', ')})`);
  const model = onnx.ModelProto.decode(sourceBytes);
  return onnx.ModelProto.encode(recipe(model)).finish();
}
