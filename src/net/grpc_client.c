typedef int net_tmp2_t;
