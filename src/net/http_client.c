typedef int net_tmp_t;
