// Package embedcore holds what trainerd's models share around their
// embedding tables, on CPU and GPU alike: the defaults of a model spec,
// the normal initialisation of a table, the L2 normalisation of output
// rows, the per-step hyper-parameter override, converting optimiser state
// to and from model.Tensor, and gathering a batch's rows into loss inputs.
// Its Core is the step machinery of the models whose output is one matrix
// over every node (MF, DeepWalk, LightGCN, NGCF): the loss, the schedule,
// the step counter, gathering a batch's rows and scattering the loss
// gradients back, densely or per distinct row.
package embedcore
