# Cython declarations of restrain_abi.h: what generated modules may call.
# Helpers returning `object` return NULL with an exception set on error
# (Cython checks that); helpers returning int return -1 on error.

from cpython.object cimport PyObject

cdef extern from "restrain_abi.h":
    ctypedef struct RsFrame:
        pass
    ctypedef object (*RsEntry)(RsFrame *)

    bint rs_unlikely(bint x)      # a branch hint (a macro)
    object rs_null()
    bint rs_is_null(object v)
    void rs_at(RsFrame *f, int index)

    object rs_const(RsFrame *f, int i)
    object rs_load_fast(RsFrame *f, int i)
    void rs_store_fast(RsFrame *f, int i, object v)
    int rs_delete_fast(RsFrame *f, int i) except -1

    int rs_make_cell(RsFrame *f, int i) except -1
    void rs_copy_free_vars(RsFrame *f, int n)
    object rs_load_closure(RsFrame *f, int i)
    object rs_load_deref(RsFrame *f, int i)
    void rs_store_deref(RsFrame *f, int i, object v)
    int rs_delete_deref(RsFrame *f, int i) except -1

    object rs_load_global(RsFrame *f, int i)
    ctypedef struct RsGlobalCache:
        PyObject *value
    object rs_load_global_cached(RsFrame *f, int i, RsGlobalCache *c)
    int rs_pure_budget(RsFrame *f, int name_index, RsGlobalCache *c)
    bint rs_pure_interrupted()
    bint rs_pure_breaker()
    int rs_seq_items(PyObject *seq, PyObject ***items, long long *size)
    PyObject *rs_pure_global(PyObject *fn, int i, RsGlobalCache *c)
    int rs_global_int(RsFrame *f, int i, RsGlobalCache *c, long long *out)
    int rs_global_float(RsFrame *f, int i, RsGlobalCache *c, double *out)
    int rs_pure_global_int(PyObject *fn, int i, RsGlobalCache *c, long long *out)
    int rs_pure_global_float(PyObject *fn, int i, RsGlobalCache *c, double *out)
    PyObject *rs_frame_function(RsFrame *f)
    ctypedef struct RsPureCallee:
        PyObject *code
    PyObject *rs_default_arg(PyObject *callable, int k, int argcount)
    ctypedef struct RsDynamicSite:
        PyObject *code
    void *rs_dynamic_pure(RsFrame *f, PyObject *callable, const char *signature, int *depth, RsDynamicSite *site, int *frame_depth, int *frame_limit)
    int rs_pure_call_budget(RsFrame *f, object callable, RsPureCallee *c, const char *fingerprint, int *frame_depth, int *frame_limit) except -1
    int rs_store_global(RsFrame *f, int i, object v) except -1
    int rs_delete_global(RsFrame *f, int i) except -1

    object rs_load_attr(RsFrame *f, object owner, int i)
    ctypedef struct RsAttrCache:
        unsigned int fills
    object rs_load_attr_cached(RsFrame *f, object owner, int i, RsAttrCache *c)
    int rs_store_attr_cached(RsFrame *f, object owner, int i, object v, RsAttrCache *c) except -1
    int rs_store_attr(RsFrame *f, object owner, int i, object v) except -1
    int rs_delete_attr(RsFrame *f, object owner, int i) except -1
    object rs_load_method(RsFrame *f, object owner, int i)
    ctypedef struct RsMethodCache:
        unsigned int fills
    object rs_load_method_cached(RsFrame *f, object owner, int i, RsMethodCache *c)
    object rs_take_second(RsFrame *f)

    int rs_import_api()
    object rs_call0(object a, object b)
    object rs_call1(object a, object b, object x1)
    object rs_call2(object a, object b, object x1, object x2)
    object rs_call3(object a, object b, object x1, object x2, object x3)
    object rs_call4(object a, object b, object x1, object x2, object x3, object x4)
    object rs_call_n(object a, object b, object args, object kwnames)
    object rs_call_ex(object func, object args, object kwargs)

    object rs_binary_op(int op, object a, object b)
    object rs_unary_op(int op, object v)
    object rs_compare(object a, object b, int op)
    object rs_is(object a, object b, int invert)
    object rs_contains(object left, object right, int invert)
    int rs_truth(object v) except -1
    object rs_not(object v)

    object rs_getitem(object c, object k)
    int rs_setitem(object c, object k, object v) except -1
    int rs_delitem(object c, object k) except -1
    object rs_build_slice(object a, object b, object c)

    object rs_new_list()
    object rs_new_set()
    object rs_new_dict()
    int rs_list_append(object l, object v) except -1
    int rs_set_add(object s, object v) except -1
    int rs_map_add(object d, object k, object v) except -1
    int rs_list_extend(object l, object it) except -1
    int rs_set_update(object s, object it) except -1
    int rs_dict_update(object d, object u) except -1
    int rs_dict_merge(object func, object d, object u) except -1
    object rs_list_to_tuple(object l)
    object rs_const_key_map(object keys, object values)
    object rs_build_string(object parts)
    object rs_format(object value, int conv, object spec)
    object rs_unpack_sequence(object v, int n)
    object rs_unpack_ex(object v, int before, int after)

    object rs_get_iter(object v)
    object rs_range_iter(object first, object callable, long long start, long long stop, int nargs)
    void rs_keep_spare_iter(PyObject *it)
    object rs_for_iter(object it)
    int rs_for_iter_store(RsFrame *f, object it, int i) except -1
    object rs_get_iter_indexed(object v, PyObject **seq, long long *cur)
    object rs_for_index(RsFrame *f, int index, object it, PyObject *seq, long long *cur)
    int rs_for_index_store(RsFrame *f, int index, object it, PyObject *seq, long long *cur, int i) except -1
    object rs_index_iter_at(object it, PyObject *seq, long long cur)

    object rs_make_function(RsFrame *f, object code, object closure, object annotations,
                            object kwdefaults, object defaults)
    object rs_import_name(RsFrame *f, int i, object fromlist, object level)
    object rs_import_from(RsFrame *f, object module, int i)

    object rs_catch(RsFrame *f, object e)
    int rs_propagate(RsFrame *f, object e) except -1
    int rs_lasti(RsFrame *f)
    object rs_lasti_obj(RsFrame *f)
    void rs_restore_exc_info(RsFrame *f)
    object rs_push_exc_info(RsFrame *f, object exc)
    void rs_pop_except(RsFrame *f, object prev)
    object rs_check_exc_match(object exc, object type)
    object rs_assertion_error()
    int rs_raise(RsFrame *f, object exc, object cause) except -1
    int rs_reraise(RsFrame *f, object exc, object lasti) except -1
    object rs_before_with(RsFrame *f, object mgr)
    object rs_with_except_start(object exit_func, object val)
    int rs_check_signals(RsFrame *f, int index) except -1
    int rs_poll_after_call(RsFrame *f, int index, object first, object second) except -1

    # typed code (types.py): 1 = deoptimise, 0 = done
    void rs_deopt_begin(RsFrame *f, int resume)
    void rs_deopt_push(RsFrame *f, object v)
    object rs_deopted(RsFrame *f)
    object rs_local(RsFrame *f, int i)
    int rs_unbound_local_error(RsFrame *f, int i) except -1
    int rs_unbox_float(object o, double *r)
    int rs_unbox_int(object o, long long *r)
    int rs_i_add(long long a, long long b, long long *r)
    int rs_i_sub(long long a, long long b, long long *r)
    int rs_i_mul(long long a, long long b, long long *r)
    int rs_i_and(long long a, long long b, long long *r)
    int rs_i_or(long long a, long long b, long long *r)
    int rs_i_xor(long long a, long long b, long long *r)
    int rs_i_floordiv(long long a, long long b, long long *r)
    int rs_i_mod(long long a, long long b, long long *r)
    int rs_i_lshift(long long a, long long b, long long *r)
    int rs_i_rshift(long long a, long long b, long long *r)
    int rs_i_lshift_wrap(long long a, long long b, long long *r, bint *exact)
    int rs_i_and_wrapped(long long wrapped, int exact, long long m, long long *r)
    object rs_i_lshift_exact(long long a, long long b, long long wrapped, int exact)
    int rs_i_pow(long long a, long long b, long long *r)
    int rs_i_truediv(long long a, long long b, double *r)
    int rs_i_exact(long long a, double *r)
    int rs_i_neg(long long a, long long *r)
    int rs_i_abs(long long a, long long *r)
    int rs_ord(object o, long long *r)
    int rs_f_truediv(double a, double b, double *r)
    double rs_f_abs(double a)
    int rs_f_mod(double a, double b, double *r)
    int rs_f_floordiv(double a, double b, double *r)
    int rs_f_pow(double a, double b, double *r)
    int rs_f_to_i(double a, long long *r)
    int rs_m_sqrt(double x, double *r)
    int rs_m_sin(double x, double *r)
    int rs_m_cos(double x, double *r)
    int rs_m_tan(double x, double *r)
    int rs_m_exp(double x, double *r)
    int rs_m_log(double x, double *r)
    int rs_m_fabs(double x, double *r)
    int rs_m_atan(double x, double *r)
    int rs_m_atan2(double y, double x, double *r)
    int rs_m_floor(double x, long long *r)
    int rs_m_ceil(double x, long long *r)
    int rs_guard_function(object o, PyObject **cache, const char *module, const char *name)
    Py_ssize_t rs_len(object o) except -1
    object rs_getitem_i(object c, long long i)
    int rs_item_truth_i(RsFrame *f, int branch, object c, long long i) except -1
    int rs_setitem_i(object c, long long i, object v) except -1
    int rs_setitem_float_i(object c, long long i, double v) except -1
    int rs_for_iter_range(object it, long long *item)
    object rs_range_c(object first, object callable, long long start, long long stop, int nargs, long long *cur, long long *end)
    object rs_get_iter_range(object v)
    int rs_for_range(object it, long long *cur, long long stop, long long *item)
    object rs_range_iter_at(object it, long long cur, long long stop)
    int rs_for_iter_int(RsFrame *f, int index, object it, long long *out, PyObject **other) except -1
    int rs_for_iter_float(RsFrame *f, int index, object it, double *out, PyObject **other) except -1
    int rs_for_index_int(RsFrame *f, int index, object it, PyObject *seq, long long *cur, long long *out, PyObject **other) except -1
    int rs_for_index_float(RsFrame *f, int index, object it, PyObject *seq, long long *cur, double *out, PyObject **other) except -1
    object rs_steal(PyObject *v)
    int rs_item_float_i(object c, long long i, double *r)
    int rs_item_int_i(object c, long long i, long long *r)
    PyObject *rs_local_b(RsFrame *f, int i)
    PyObject *rs_const_b(RsFrame *f, int i)
    PyObject *rs_null_b()
    bint rs_is_exact_seq(object v, int n)
    object rs_seq_item(object v, int i)

    # frameless versions (frameless.py): borrowed results, NULL or -1 to give up
    PyObject *rs_fl_name(PyObject *fn, int i)
    PyObject *rs_fl_const(PyObject *fn, int i)
    PyObject *rs_fl_none()
    PyObject *rs_fl_bool(int b)
    PyObject *rs_fl_is(PyObject *a, PyObject *b, int invert)
    PyObject *rs_fl_load_attr(PyObject *owner, PyObject *name, RsAttrCache *c)
    int rs_fl_truth(PyObject *v)
    PyObject *rs_fl_getitem(PyObject *c, PyObject *k)
    PyObject *rs_fl_compare(PyObject *a, PyObject *b, int op)
    ctypedef struct RsFlIter:
        pass
    PyObject *rs_fl_iter(RsFlIter *it, PyObject *seq)
    PyObject *rs_fl_next(PyObject *it)
    bint rs_fl_unpackable(PyObject *seq, Py_ssize_t n)
    PyObject *rs_fl_item(PyObject *seq, Py_ssize_t i)
    ctypedef struct RsFlTx:
        int nstores
    void rs_fl_begin(RsFlTx *tx)
    PyObject *rs_fl_abort(RsFlTx *tx)
    PyObject *rs_fl_commit(RsFlTx *tx, PyObject *result)
    int rs_fl_store_attr(RsFlTx *tx, PyObject *owner, PyObject *name, PyObject *v, RsAttrCache *c)
    PyObject *rs_fl_binary(RsFlTx *tx, int op, PyObject *a, PyObject *b)
    PyObject *rs_fl_sequence(RsFlTx *tx, PyObject *const *items, int n, int is_list)
    PyObject *rs_fl_list_method(PyObject *owner)
    PyObject *rs_fl_list_marker()
    PyObject *rs_fl_list_append(RsFlTx *tx, PyObject *lst, PyObject *v)
    PyObject *rs_fl_list_pop(RsFlTx *tx, PyObject *lst)
    PyObject *rs_fl_negative(RsFlTx *tx, PyObject *a)
    ctypedef PyObject *(*RsFlBody)(PyObject *fn, PyObject *const *args, RsFlTx *tx) noexcept
    ctypedef PyObject *(*RsFrameless)(PyObject *fn, PyObject *const *args) noexcept
    ctypedef struct RsFlVersion:
        RsFrameless call
        RsFlBody body
    PyObject *rs_fl_run(RsFlBody body, PyObject *fn, PyObject *const *args)
    PyObject *rs_fl_method(PyObject *owner, PyObject *name, RsMethodCache *c)
    ctypedef struct RsFlSite:
        PyObject *code
    PyObject *rs_fl_call(RsFlTx *tx, PyObject *callable, PyObject *const *args, int nargs, RsFlSite *site)
    enum:
        Py_LT
        Py_LE
        Py_EQ
        Py_NE
        Py_GT
        Py_GE

cdef extern from "Python.h":
    object PyCapsule_New(void *pointer, const char *name, void *destructor)
