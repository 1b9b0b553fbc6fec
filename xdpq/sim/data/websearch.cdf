# Web-search flow sizes: the query / background traffic measured in a production
# web-search cluster by Alizadeh et al., "Data Center TCP (DCTCP)", ACM SIGCOMM
# 2010 (Figure 4), in the tabulated form the pFabric evaluation used (Alizadeh
# et al., "pFabric: Minimal Near-Optimal Datacenter Transport", SIGCOMM 2013;
# its ns-2 file CDF_search.tcl). That table counts 1460-byte segments; here
# each size is segments x 1460 B. Written down from the published tables, not
# copied from a file: check against the source before quoting results.
# Sampling interpolates linearly between points; 15 % of flows are 6 segments.
#
# size_bytes  cumulative_probability
8760        0
8760        0.15
18980       0.2
27740       0.3
48180       0.4
77380       0.53
194180      0.6
973820      0.7
1946180     0.8
4866180     0.9
9733820     0.97
29200000    1
