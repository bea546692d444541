/**
 * Reverse-mode automatic differentiation: each op records a {@link GradNode} on its output; the
 * backward pass walks the nodes once in reverse topological order.
 * @module
 */

import { isGradEnabled, keep, noGrad, shapeSize, Tensor } from "./tensor.ts";
import { addInPlace, fill } from "./ops/elementwise.ts";
import { rt } from "./runtime.ts";

/** How an op's output was made and how to push its gradient to the inputs. */
export interface GradNode {
  /** Op name, for error messages. */
  name: string;
  /** The op's tensor inputs, in the order `backward` returns their gradients. */
  inputs: Tensor[];
  /** Given d(loss)/d(output), returns d(loss)/d(input) per input (null when not needed). */
  backward(gradOutput: Tensor): (Tensor | null)[];
  /** Auxiliary tensors the op kept for backward (e.g. max-pool indices); freed after it. */
  saved?: Tensor[];
  /**
   * Input gradients for d(loss)/d(output) = ones, used instead of `backward` when this is the
   * root of a `backward()` without a seed: a loss that computed them in its forward dispatch.
   */
  backwardFromOnes?(): (Tensor | null)[];
}

/**
 * Attaches a node to `output` when gradients are being recorded and some input needs one;
 * otherwise frees `saved` at once. Returns `output`.
 */
export function record(
  output: Tensor,
  name: string,
  inputs: Tensor[],
  backward: GradNode["backward"],
  saved?: Tensor[],
): Tensor {
  if (isGradEnabled() && inputs.some((t) => t.requiresGrad)) {
    output.requiresGrad = true;
    output.node = { name, inputs, backward, saved };
  } else if (saved) {
    for (const t of saved) t.dispose();
  }
  return output;
}

/**
 * The backward pass from `root` (seeded with `seed`, or ones). Leaf tensors that require grad
 * accumulate into `.grad`; every intermediate is released once its gradient has been pushed
 * to its inputs, unless it was `keep()`-ed.
 */
export function runBackward(root: Tensor, seed?: Tensor): void {
  if (!root.requiresGrad) {
    throw new Error("facekit: backward() on a tensor that does not require grad");
  }
  // Gradient kernels must not themselves be recorded.
  noGrad(() => backwardPass(root, seed));
}

/** Leaves whose gradient target was handed out in the running backward pass (else null). */
let targetsHandedOut: Set<Tensor> | null = null;

/**
 * A tensor for an op's backward to write the gradient of `input` into: a view of the input's
 * gradient target (a slice of an optimizer's flat gradient buffer) when `input` is a leaf with
 * one, no gradient yet, and no earlier use in this pass; else a new tensor. Writing into the
 * target saves the copy `backward()` would otherwise make.
 */
export function gradientFor(input: Tensor, shape: readonly number[]): Tensor {
  const target = input.gradTarget;
  if (
    targetsHandedOut && target && !input.node && !input.grad && !targetsHandedOut.has(input) &&
    shapeSize(shape) === input.size
  ) {
    targetsHandedOut.add(input);
    return Tensor.over(shape, target.storage);
  }
  return Tensor.empty(shape);
}

/** Hands a leaf its first gradient, moved into its gradient target when it has one. */
function giveLeafGradient(t: Tensor, g: Tensor): void {
  const target = t.gradTarget;
  if (target && g.storage !== target.storage) {
    rt().copy(g.buffer, g.offset, target.buffer, target.offset, g.size * 4);
    g.dispose();
    g = Tensor.over(t.shape, target.storage);
  }
  // The gradient belongs to the leaf now, not to the tidy scope that computed it.
  t.grad = keep(g);
}

function backwardPass(root: Tensor, seed?: Tensor): void {
  targetsHandedOut = new Set();
  try {
    walkBackward(root, seed);
  } finally {
    targetsHandedOut = null;
  }
}

function walkBackward(root: Tensor, seed?: Tensor): void {
  const order = topologicalOrder(root);
  const grads = new Map<Tensor, Tensor>();
  const fromOnes = !seed && root.node?.backwardFromOnes ? root.node : null;
  if (!fromOnes) grads.set(root, seed ?? fill(root.shape, 1));
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i];
    const node = t.node;
    let inputGrads: (Tensor | null)[];
    if (t === root && fromOnes) {
      inputGrads = fromOnes.backwardFromOnes!();
    } else {
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      if (!node) {
        // A leaf: hand the gradient over (it outlives tidy scopes) or accumulate.
        if (t.grad) {
          addInPlace(t.grad, g);
          g.dispose();
        } else giveLeafGradient(t, g);
        continue;
      }
      inputGrads = node.backward(g);
      if (g !== seed) g.dispose();
    }
    node!.inputs.forEach((input, k) => {
      const ig = inputGrads[k];
      if (!ig) return;
      if (!input.requiresGrad) return ig.dispose();
      const prev = grads.get(input);
      if (prev) {
        addInPlace(prev, ig);
        ig.dispose();
      } else grads.set(input, ig);
    });
    for (const s of node!.saved ?? []) s.dispose();
    t.node = null;
    if (t !== root && !t.kept) t.dispose("released by backward()");
  }
}

function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative DFS: deep nets (ResNet) would overflow a recursive one only at extreme depth,
  // but iteration also keeps stack traces readable.
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, k] = top;
    const inputs = t.node?.inputs ?? [];
    if (k < inputs.length) {
      top[1]++;
      const child = inputs[k];
      if (child.requiresGrad && !seen.has(child)) {
        seen.add(child);
        stack.push([child, 0]);
      }
    } else {
      order.push(t);
      stack.pop();
    }
  }
  return order;
}
