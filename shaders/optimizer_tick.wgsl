// state[0] += 1 (the optimizer's step count, kept on the GPU); state[1] is the lr multiplier
// set by the schedule and left alone here.
@group(0) @binding(1) var<storage, read_write> state: array<f32>;

@compute @workgroup_size(1)
fn main() {
  state[0] = state[0] + 1.0;
}
