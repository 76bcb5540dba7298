"""The BN joint policy, the lowest layer: the DAG learner and the fixed DAGs (dag.py: Gumbel-Softmax edges,
Gumbel-Sinkhorn orders, density), the networks (networks.py: actor, critic, edge and permutation nets, the GRU),
and the joint policy over them (joint.py: `BNPolicy`, sampling in topological order and the log-probability of a
joint action in one pass). Pure JAX functions of parameters and arrays; it imports no other part of jbn (only
JAX, flax and numpy), so the training program, evaluation and the tabular experiments all build on it."""
