// Element type of the BatchNorm kernels, prepended to their source (nn/ops/batchnorm2d.ts):
// vec4s when a channel plane is a whole number of vec4s (a vec4 load costs about as much as a
// scalar one on software adapters, so this reads 4× fewer times), else scalars.
alias V = {{TYPE}};
const W = {{WIDTH}}u;
fn hsum(v: V) -> f32 { return {{HSUM}}; }
