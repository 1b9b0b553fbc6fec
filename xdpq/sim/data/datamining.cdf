# Data-mining flow sizes: the traffic of a data-mining cluster measured by
# Greenberg et al., "VL2: A Scalable and Flexible Data Center Network", ACM
# SIGCOMM 2009 (Figure 2), in the tabulated form the pFabric evaluation used
# (Alizadeh et al., "pFabric: Minimal Near-Optimal Datacenter Transport",
# SIGCOMM 2013; its ns-2 file CDF_vl2.tcl). That table counts 1460-byte
# segments; here each size is segments x 1460 B. Written down from the
# published tables, not copied from a file: check against the source before
# quoting results. Half the flows are a single segment; 1 % exceed 97 MB.
#
# size_bytes  cumulative_probability
1460        0
1460        0.5
2920        0.6
4380        0.7
10220       0.8
389820      0.9
3076220     0.95
97333820    0.99
973333820   1
