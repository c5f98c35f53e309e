/*
 * restrain_abi.h -- what compiled modules call.
 *
 * Every module restrain generates includes this header (through
 * restrain_abi.pxd).  It holds:
 *   - RsFrame, the per-call state the evaluator (csrc/hook.c) passes to a
 *     compiled entry point;
 *   - small inline helpers, one per bytecode operation whose exact CPython
 *     semantics need more than one C-API call (global lookup, method
 *     lookup, raise, exception-info stack, unpacking, ...).
 *
 * All knowledge of CPython 3.11's frame layout on the C side lives here and
 * in csrc/hook.c.  Error messages are those of Python/ceval.c in 3.11, so
 * compiled code raises exactly what the interpreter raises.
 *
 * Reference counting convention (matches Cython's view of `object`):
 * helpers returning PyObject* return a NEW reference, or NULL with an
 * exception set; PyObject* arguments are BORROWED.
 */
#ifndef RESTRAIN_ABI_H
#define RESTRAIN_ABI_H

#ifndef Py_BUILD_CORE
#define Py_BUILD_CORE 1
#endif
#include "Python.h"
#include "frameobject.h"
#include "internal/pycore_frame.h"
/* instance attribute caches (rs_load_attr_cached) */
#include "internal/pycore_dict.h"
/* module attribute caches (rs_module_entry) */
#include "internal/pycore_moduleobject.h"
#include "structmember.h"
/* the eval breaker, see rs_check_signals */
#include "internal/pycore_interp.h"
#include "internal/pycore_pystate.h"

/* Exported by libpython 3.11 but declared only in headers that need more
 * of the internal build environment than an extension has. */
PyAPI_FUNC(PyObject *) _PyTraceBack_FromFrame(PyObject *tb_next, PyFrameObject *frame);
PyAPI_FUNC(int) _Py_CheckRecursiveCall(PyThreadState *tstate, const char *where);

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030C0000
#error "restrain_abi.h supports CPython 3.11 only"
#endif

/* The state of one call of a compiled function. Lives on the C stack of the
 * evaluator for the duration of the call. */
typedef struct RsFrame {
    PyThreadState *tstate;
    _PyInterpreterFrame *frame;   /* the interpreter frame, linked in the chain */
    PyObject **locals;            /* frame->localsplus */
    _Py_CODEUNIT *first_instr;    /* _PyCode_CODE(frame->f_code) */
    PyObject *consts;             /* borrowed: co_consts */
    PyObject *names;              /* borrowed: co_names */
    /* &tstate->interp->ceval.eval_breaker, which compiled loops poll on
     * every back-edge (rs_check_signals): one load there instead of three
     * dependent ones.  3.11: 3.13 moves the breaker into the thread state. */
    _Py_atomic_int *eval_breaker;
    /* What tstate->exc_info->exc_value must be while this frame runs.
     * Cython's try/except saves and restores the exception state on its own
     * schedule; after every catch, and when the call ends, the evaluator puts
     * this value back (strong reference, may be NULL). */
    PyObject *exc_shadow;
    /* Second result of a helper that produces two stack values
     * (LOAD_METHOD, BEFORE_WITH); taken at once with rs_take_second. */
    PyObject *second;
    /* The exception now propagating already has this frame's traceback
     * entry (bare `raise` and RERAISE do not add one in CPython). */
    int reraise;
    /* Where the exception table is searched: the raising instruction.
     * RERAISE moves prev_instr back to the original raise site (for the
     * traceback) but, as in ceval.c, the handler is looked up at the
     * RERAISE itself.  -1: use prev_instr. */
    int unwind_index;
    /* Deoptimisation (rs_deopt_*): set when the compiled code handed the
     * frame back to the interpreter; the evaluator then resumes it. */
    int deopt;          /* 1: resume the interpreter at prev_instr + 1 */
    int deopt_depth;    /* value-stack entries written into the frame */
    int deopt_index;    /* where (instruction index), for the statistics */
} RsFrame;

typedef PyObject *(*RsEntry)(RsFrame *);

/* Modules are built at -O1 (compile latency), where gcc does not inline
 * `static inline` helpers on its own; the small hot ones are forced. */
#define RS_HOT static inline __attribute__((always_inline))

/* Branch hints for the slow paths of the RS_HOT helpers, which inline into
 * the compiled loops.  Without them gcc guesses an even chance for each
 * branch, so a rarely taken call (a guard's first check, a global's
 * reload) looks as frequent as the loop itself; its register allocator
 * then keeps every C variable live across it in memory for good: a
 * running float total went through a store and a load every turn (emit:
 * the generated code marks its own cold paths with rs_unlikely too). */
#define RS_LIKELY(x) __builtin_expect(!!(x), 1)
#define RS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define rs_unlikely(x) RS_UNLIKELY(x)

/* ---- the NULL stack value ---------------------------------------------
 * The 3.11 value stack holds NULL below a callable (PUSH_NULL, LOAD_GLOBAL
 * with the low bit, LOAD_METHOD on a non-method).  Cython variables cannot
 * hold NULL, so compiled code uses this static sentinel instead.  It never
 * escapes to Python code. */
static PyObject rs_null_object = {
    _PyObject_EXTRA_INIT
    1 << 28, &PyBaseObject_Type
};
#define RS_NULL (&rs_null_object)

RS_HOT PyObject *rs_null(void) { Py_INCREF(RS_NULL); return RS_NULL; }
RS_HOT int rs_is_null(PyObject *v) { return v == RS_NULL; }

/* ---- line numbers -------------------------------------------------------
 * CPython computes tracebacks, f_lineno and sys._getframe() from
 * frame->prev_instr; compiled code stores it before anything that can
 * raise or call out. */
RS_HOT void rs_at(RsFrame *f, int index) {
    f->frame->prev_instr = f->first_instr + index;
}

/* ---- constants and locals ------------------------------------------------ */
RS_HOT PyObject *rs_const(RsFrame *f, int i) {
    PyObject *v = PyTuple_GET_ITEM(f->consts, i);
    Py_INCREF(v);
    return v;
}

RS_HOT PyObject *rs_name(RsFrame *f, int i) {
    return PyTuple_GET_ITEM(f->names, i);   /* borrowed */
}

static PyObject *rs_local_name(RsFrame *f, int i) {
    return PyTuple_GET_ITEM(f->frame->f_code->co_localsplusnames, i);
}

static void rs_unbound_local(RsFrame *f, int i) {
    PyErr_Format(PyExc_UnboundLocalError,
                 "cannot access local variable '%U' where it is not associated with a value",
                 rs_local_name(f, i));
}

RS_HOT PyObject *rs_load_fast(RsFrame *f, int i) {
    PyObject *v = f->locals[i];
    if (v == NULL) {
        rs_unbound_local(f, i);
        return NULL;
    }
    Py_INCREF(v);
    return v;
}

RS_HOT void rs_store_fast(RsFrame *f, int i, PyObject *v) {
    PyObject *old = f->locals[i];
    Py_INCREF(v);
    f->locals[i] = v;
    Py_XDECREF(old);
}

static inline int rs_delete_fast(RsFrame *f, int i) {
    PyObject *old = f->locals[i];
    if (old == NULL) {
        rs_unbound_local(f, i);
        return -1;
    }
    f->locals[i] = NULL;
    Py_DECREF(old);
    return 0;
}

/* ---- cells and free variables -------------------------------------------- */
static inline int rs_make_cell(RsFrame *f, int i) {
    PyObject *initial = f->locals[i];
    PyObject *cell = PyCell_New(initial);
    if (cell == NULL) return -1;
    f->locals[i] = cell;
    Py_XDECREF(initial);
    return 0;
}

static inline void rs_copy_free_vars(RsFrame *f, int n) {
    PyCodeObject *co = f->frame->f_code;
    PyObject *closure = f->frame->f_func->func_closure;
    int offset = co->co_nlocals + co->co_nplaincellvars;
    for (int i = 0; i < n; i++) {
        PyObject *o = PyTuple_GET_ITEM(closure, i);
        Py_INCREF(o);
        f->locals[offset + i] = o;
    }
}

static inline PyObject *rs_load_closure(RsFrame *f, int i) {
    PyObject *v = f->locals[i];
    Py_INCREF(v);
    return v;
}

static void rs_unbound_deref(RsFrame *f, int i) {
    PyCodeObject *co = f->frame->f_code;
    if (i < co->co_nlocals + co->co_nplaincellvars) {
        rs_unbound_local(f, i);
    } else {
        PyErr_Format(PyExc_NameError,
                     "cannot access free variable '%U' where it is not associated with a"
                     " value in enclosing scope", rs_local_name(f, i));
    }
}

static inline PyObject *rs_load_deref(RsFrame *f, int i) {
    PyObject *v = PyCell_GET(f->locals[i]);
    if (v == NULL) {
        rs_unbound_deref(f, i);
        return NULL;
    }
    Py_INCREF(v);
    return v;
}

static inline void rs_store_deref(RsFrame *f, int i, PyObject *v) {
    PyObject *cell = f->locals[i];
    PyObject *old = PyCell_GET(cell);
    Py_INCREF(v);
    PyCell_SET(cell, v);
    Py_XDECREF(old);
}

static inline int rs_delete_deref(RsFrame *f, int i) {
    PyObject *cell = f->locals[i];
    PyObject *old = PyCell_GET(cell);
    if (old == NULL) {
        rs_unbound_deref(f, i);
        return -1;
    }
    PyCell_SET(cell, NULL);
    Py_DECREF(old);
    return 0;
}

/* ---- globals and builtins: looked up at every use, in the frame's own
 * globals and builtins, so rebinding is always seen. ---------------------- */
static void rs_name_error(PyObject *name) {
    PyErr_Format(PyExc_NameError, "name '%.200s' is not defined", PyUnicode_AsUTF8(name));
    /* 3.11's traceback printer uses .name for "Did you mean" suggestions */
    PyObject *exc, *val, *tb;
    PyErr_Fetch(&exc, &val, &tb);
    PyErr_NormalizeException(&exc, &val, &tb);
    if (val != NULL && PyObject_SetAttrString(val, "name", name) < 0) PyErr_Clear();
    PyErr_Restore(exc, val, tb);
}

static inline PyObject *rs_load_global(RsFrame *f, int i) {
    PyObject *name = rs_name(f, i);
    PyObject *globals = f->frame->f_globals, *builtins = f->frame->f_builtins;
    PyObject *v;
    if (PyDict_CheckExact(globals)) {
        v = PyDict_GetItemWithError(globals, name);
        if (v != NULL) { Py_INCREF(v); return v; }
        if (PyErr_Occurred()) return NULL;
    } else {
        v = PyObject_GetItem(globals, name);
        if (v != NULL) return v;
        if (!PyErr_ExceptionMatches(PyExc_KeyError)) return NULL;
        PyErr_Clear();
    }
    if (PyDict_CheckExact(builtins)) {
        v = PyDict_GetItemWithError(builtins, name);
        if (v != NULL) { Py_INCREF(v); return v; }
        if (!PyErr_Occurred()) rs_name_error(name);
        return NULL;
    }
    v = PyObject_GetItem(builtins, name);
    if (v == NULL && PyErr_ExceptionMatches(PyExc_KeyError)) {
        PyErr_Clear();
        rs_name_error(name);
    }
    return v;
}

/* A LOAD_GLOBAL site's cache (one per site, in the generated module).
 * 3.11 dicts carry a version tag, unique across dicts and bumped on every
 * change: while both tags are the ones seen at the last lookup the dicts
 * are unchanged, so the value found then is still there (and alive: the
 * cache holds it borrowed).  Version-specific: ma_version_tag (3.11). */
typedef struct {
    uint64_t globals_version;
    uint64_t builtins_version;
    PyObject *value;
    /* a site read straight into a C variable (rs_global_int/_float): the
     * value unboxed, valid with `value` */
    long long as_int;
    double as_float;
} RsGlobalCache;

RS_HOT PyObject *rs_load_global_cached(RsFrame *f, int i, RsGlobalCache *c) {
    PyObject *globals = f->frame->f_globals, *builtins = f->frame->f_builtins;
    if (RS_LIKELY(c->value != NULL && PyDict_CheckExact(globals) && PyDict_CheckExact(builtins)
            && ((PyDictObject *)globals)->ma_version_tag == c->globals_version
            && ((PyDictObject *)builtins)->ma_version_tag == c->builtins_version)) {
        return Py_NewRef(c->value);
    }
    PyObject *v = rs_load_global(f, i);
    if (v != NULL && PyDict_CheckExact(globals) && PyDict_CheckExact(builtins)) {
        c->value = v;
        c->globals_version = ((PyDictObject *)globals)->ma_version_tag;
        c->builtins_version = ((PyDictObject *)builtins)->ma_version_tag;
    }
    return v;
}

static inline int rs_store_global(RsFrame *f, int i, PyObject *v) {
    return PyDict_SetItem(f->frame->f_globals, rs_name(f, i), v);
}

static inline int rs_delete_global(RsFrame *f, int i) {
    PyObject *name = rs_name(f, i);
    int err = PyDict_DelItem(f->frame->f_globals, name);
    if (err != 0 && PyErr_ExceptionMatches(PyExc_KeyError)) {
        PyErr_Clear();
        rs_name_error(name);
    }
    return err;
}

/* ---- attribute and method caches ---------------------------------------------
 * One cache per LOAD_ATTR / STORE_ATTR / LOAD_METHOD site, as 3.11's
 * specialised forms of those instructions do it, keyed by the owner's type
 * version tag: a tag is never reused, and changes whenever the type or any
 * base is modified, so while it matches, _PyType_Lookup would find what it
 * found at the fill.  A cache has RS_CACHE_WAYS ways, one per owner type
 * (a site that sees a few classes, as the task classes of a scheduler,
 * keeps each); a site that has been filled RS_CACHE_MAX_FILLS times
 * (megamorphic, or an instance whose attributes cannot be cached) stops
 * filling and takes the generic path, as 3.11 backs off.
 *
 * What a way of an attribute site remembers (RS_ATTR_*):
 *   VALUES  an instance attribute in the object's inline values
 *           (Py_TPFLAGS_MANAGED_DICT), at `index` of the type's shared
 *           keys, with no data descriptor of that name;
 *   SLOT    a __slots__ member at offset `index`;
 *   MODULE  a module attribute (rs_module_entry; loads only).
 * Of a method site (RS_METHOD_*), the method (borrowed: a type's dict holds
 * it while the tag matches), which the instance cannot shadow when
 *   VALUES   its attributes are inline values (no __dict__ made) and the
 *            type's shared keys, which name every inline attribute, did
 *            not hold the name among their first `index` entries (shared
 *            keys only ever grow);
 *   NO_DICT  its type gives instances no __dict__ (__slots__ classes, most
 *            built-in types: str.join, dict.get);
 *   MODULE   a module attribute: a plain value, the call gets no self.
 * Anything else (a missing value, a materialised __dict__, a class, a
 * property, __getattr__ or __getattribute__, a classmethod) takes the
 * generic path. */
#define RS_CACHE_WAYS 4
#define RS_CACHE_MAX_FILLS 64
enum { RS_ATTR_NONE = 0, RS_ATTR_VALUES = 1, RS_ATTR_SLOT = 2, RS_ATTR_MODULE = 3 };
enum { RS_METHOD_NONE = 0, RS_METHOD_VALUES = 1, RS_METHOD_NO_DICT = 2, RS_METHOD_MODULE = 3 };
typedef struct {
    unsigned int version;     /* the owner type's version tag */
    int kind;                 /* RS_ATTR_* or RS_METHOD_*; 0: empty */
    Py_ssize_t index;         /* values index, slot offset, module dict entry, or shared keys' size */
    PyDictKeysObject *keys;   /* compared only: a module dict's keys, a type's shared keys */
    PyObject *method;         /* method ways: borrowed, see above */
} RsCacheWay;
typedef struct {
    RsCacheWay way[RS_CACHE_WAYS];
    unsigned int fills;
} RsAttrCache;
typedef RsAttrCache RsMethodCache;

/* The way to fill for `tp`: its own (its tag matched but the entry did
 * not hold), an empty one, or the next in turn; NULL when the site has
 * stopped filling. */
static RsCacheWay *rs_way_to_fill(RsAttrCache *c, PyTypeObject *tp) {
    if (c->fills >= RS_CACHE_MAX_FILLS) return NULL;
    unsigned int n = c->fills++;
    for (int k = 0; k < RS_CACHE_WAYS; k++) {
        if (c->way[k].kind != 0 && c->way[k].version == tp->tp_version_tag) return &c->way[k];
    }
    for (int k = 0; k < RS_CACHE_WAYS; k++) {
        if (c->way[k].kind == 0) return &c->way[k];
    }
    return &c->way[n % RS_CACHE_WAYS];
}

/* The type's version tag if it has a valid one (_PyType_Lookup was just
 * called for it, which assigns one), else 0: not cacheable. */
static inline unsigned int rs_type_version(PyTypeObject *tp) {
    return (tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) ? tp->tp_version_tag : 0;
}

/* ---- module attributes --------------------------------------------------------
 * `module.name` as 3.11's LOAD_ATTR_MODULE and LOAD_METHOD_MODULE do it,
 * but keyed by the module dict's keys object and the entry's index instead
 * of a keys version (not exported by 3.11): while the dict still has that
 * keys object and the entry at that index holds the name, its value is the
 * attribute's current value (a combined dict of str keys holds each key
 * once; a deleted entry loses its key and value).  Nothing from the fill is
 * trusted but the index, so a keys object freed and another allocated at
 * the same address cannot mislead it.  Exact modules only, and names the
 * module type does not define (its data descriptors, __dict__ and
 * __class__, would come first; it cannot be changed). */
static Py_ssize_t rs_module_entry_index(PyObject *module, PyObject *name, PyDictKeysObject **keys) {
    if (!PyModule_CheckExact(module) || !PyUnicode_CheckExact(name)) return -1;
    PyDictObject *d = (PyDictObject *)((PyModuleObject *)module)->md_dict;
    if (d == NULL || !PyDict_CheckExact(d) || d->ma_values != NULL || !DK_IS_UNICODE(d->ma_keys)) return -1;
    if (_PyType_Lookup(&PyModule_Type, name) != NULL || rs_type_version(&PyModule_Type) == 0) return -1;
    PyDictUnicodeEntry *entries = DK_UNICODE_ENTRIES(d->ma_keys);
    for (Py_ssize_t i = 0; i < d->ma_keys->dk_nentries; i++) {
        if (entries[i].me_key == name && entries[i].me_value != NULL) {
            *keys = d->ma_keys;
            return i;
        }
    }
    return -1;   /* not found, or an equal name that is not the same object */
}

/* Fill a way of kind `kind` (RS_ATTR_MODULE, RS_METHOD_MODULE) if `owner`
 * is a module holding `name`; 1 if it was one (filled or not). */
static int rs_fill_module_way(PyObject *owner, PyObject *name, RsAttrCache *c, int kind) {
    PyDictKeysObject *keys;
    Py_ssize_t found = rs_module_entry_index(owner, name, &keys);
    if (found < 0) return 0;
    RsCacheWay *w = rs_way_to_fill(c, Py_TYPE(owner));
    if (w != NULL) *w = (RsCacheWay){rs_type_version(Py_TYPE(owner)), kind, found, keys, NULL};
    return 1;
}

/* The index of `name` among a type's shared keys (the names of its
 * instances' inline attributes), or -1. */
static Py_ssize_t rs_shared_keys_index(PyDictKeysObject *keys, PyObject *name) {
    PyDictUnicodeEntry *entries = DK_UNICODE_ENTRIES(keys);
    for (Py_ssize_t i = 0; i < keys->dk_nentries; i++) {
        PyObject *k = entries[i].me_key;
        if (k == name || (k != NULL && PyUnicode_CheckExact(k) && _PyUnicode_EQ(k, name))) return i;
    }
    return -1;
}

/* The current value (borrowed) of the module attribute a way found, or NULL. */
RS_HOT PyObject *rs_module_entry(PyObject *module, PyObject *name, RsCacheWay *w) {
    PyDictObject *d = (PyDictObject *)((PyModuleObject *)module)->md_dict;
    if (d == NULL || d->ma_keys != w->keys || d->ma_values != NULL || w->index >= w->keys->dk_nentries)
        return NULL;
    PyDictUnicodeEntry *e = &DK_UNICODE_ENTRIES(w->keys)[w->index];
    return e->me_key == name ? e->me_value : NULL;
}

/* ---- attributes ------------------------------------------------------------- */
RS_HOT PyObject *rs_load_attr(RsFrame *f, PyObject *owner, int i) {
    return PyObject_GetAttr(owner, rs_name(f, i));
}

static inline int rs_store_attr(RsFrame *f, PyObject *owner, int i, PyObject *v) {
    return PyObject_SetAttr(owner, rs_name(f, i), v);
}

static void rs_fill_attr_cache(PyObject *owner, PyObject *name, RsAttrCache *c, int for_store) {
    PyTypeObject *tp = Py_TYPE(owner);
    if (c->fills >= RS_CACHE_MAX_FILLS || (!for_store && rs_fill_module_way(owner, name, c, RS_ATTR_MODULE)))
        return;
    if (tp->tp_getattro != PyObject_GenericGetAttr || !PyUnicode_CheckExact(name)) return;
    /* a class with its own __setattr__ (or __delattr__) sees every store */
    if (for_store && tp->tp_setattro != PyObject_GenericSetAttr) return;
    PyObject *descr = _PyType_Lookup(tp, name);      /* also assigns a version tag */
    unsigned int version = rs_type_version(tp);
    if (version == 0) return;
    int kind = RS_ATTR_NONE;
    Py_ssize_t found = -1;
    if (descr != NULL && Py_TYPE(descr) == &PyMemberDescr_Type) {
        PyMemberDef *m = ((PyMemberDescrObject *)descr)->d_member;
        if (m->type == T_OBJECT_EX && !(m->flags & READONLY)) {
            kind = RS_ATTR_SLOT;
            found = m->offset;
        }
    } else if ((descr == NULL || Py_TYPE(descr)->tp_descr_set == NULL)     /* not a data descriptor */
               && (tp->tp_flags & Py_TPFLAGS_MANAGED_DICT) && (tp->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
        PyDictKeysObject *keys = ((PyHeapTypeObject *)tp)->ht_cached_keys;
        found = keys != NULL && DK_IS_UNICODE(keys) ? rs_shared_keys_index(keys, name) : -1;
        if (found >= 0) kind = RS_ATTR_VALUES;
    }
    if (kind == RS_ATTR_NONE) return;
    RsCacheWay *w = rs_way_to_fill(c, tp);
    if (w != NULL) *w = (RsCacheWay){version, kind, found, NULL, NULL};
}

/* The cached place of an instance attribute (VALUES, SLOT), or NULL; for
 * an inline value, its index in *values_index (else -1). */
RS_HOT PyObject **rs_attr_place(PyObject *owner, RsAttrCache *c, Py_ssize_t *values_index) {
    unsigned int version = Py_TYPE(owner)->tp_version_tag;
    *values_index = -1;
    for (int k = 0; k < RS_CACHE_WAYS; k++) {
        RsCacheWay *w = &c->way[k];
        if (w->version != version) continue;
        if (w->kind == RS_ATTR_SLOT) return (PyObject **)((char *)owner + w->index);
        if (w->kind == RS_ATTR_VALUES) {
            /* 3.11's _PyObject_ValuesPointer (pycore_object.h, which clashes
             * with Cython's declarations): the values pointer sits 4 words
             * before the object of a Py_TPFLAGS_MANAGED_DICT type */
            PyDictValues *values = ((PyDictValues **)owner)[-4];
            if (values == NULL) return NULL;
            *values_index = w->index;
            return &values->values[w->index];
        }
    }
    return NULL;
}

/* The __dict__ of its own (borrowed) of an instance of a type a way of
 * `kind` (a VALUES kind) holds, whose attributes are in that dict rather
 * than inline (copy, pickle and vars() make one), if its keys are all str
 * (a lookup compares no other objects); *way: that way.  Else NULL. */
static PyObject *rs_own_dict(PyObject *owner, RsAttrCache *c, int kind, RsCacheWay **way) {
    unsigned int version = Py_TYPE(owner)->tp_version_tag;
    for (int k = 0; k < RS_CACHE_WAYS; k++) {
        if (c->way[k].version != version || c->way[k].kind != kind) continue;
        if (((PyDictValues **)owner)[-4] != NULL) return NULL;      /* inline values: the way's own case */
        /* 3.11: the managed dict pointer sits 3 words before the object */
        PyObject *dict = ((PyObject **)owner)[-3];
        if (dict == NULL || !PyDict_CheckExact(dict) || !DK_IS_UNICODE(((PyDictObject *)dict)->ma_keys))
            return NULL;
        *way = &c->way[k];
        return dict;
    }
    return NULL;
}

/* An instance attribute of a type a VALUES way holds (so no data
 * descriptor of that name) whose instance has a __dict__ of its own, as
 * 3.11's LOAD_ATTR_WITH_HINT: from that dict (rs_own_dict); else NULL. */
static PyObject *rs_dict_attr(PyObject *owner, PyObject *name, RsAttrCache *c) {
    RsCacheWay *way;
    PyObject *dict = rs_own_dict(owner, c, RS_ATTR_VALUES, &way);
    if (dict == NULL) return NULL;
    PyObject *v = PyDict_GetItemWithError(dict, name);
    if (v == NULL) PyErr_Clear();
    return v;
}

/* A module attribute (borrowed) some way found, or NULL. */
RS_HOT PyObject *rs_cached_module_attr(PyObject *owner, PyObject *name, RsAttrCache *c, int kind) {
    if (!PyModule_CheckExact(owner)) return NULL;
    for (int k = 0; k < RS_CACHE_WAYS; k++) {
        if (c->way[k].kind == kind) {
            PyObject *v = rs_module_entry(owner, name, &c->way[k]);
            if (v != NULL) return v;
        }
    }
    return NULL;
}

/* A place found but empty (an unset slot, an attribute this instance
 * lacks, found on the class perhaps) takes the generic path, without
 * filling again: the cache is right about the type. */
RS_HOT PyObject *rs_load_attr_cached(RsFrame *f, PyObject *owner, int i, RsAttrCache *c) {
    Py_ssize_t values_index;
    PyObject **place = rs_attr_place(owner, c, &values_index);
    if (place != NULL && *place != NULL) return Py_NewRef(*place);
    if (place == NULL) {
        PyObject *in_dict = rs_dict_attr(owner, rs_name(f, i), c);
        if (in_dict != NULL) return Py_NewRef(in_dict);
    }
    PyObject *v = rs_cached_module_attr(owner, rs_name(f, i), c, RS_ATTR_MODULE);
    if (v != NULL) return Py_NewRef(v);
    v = PyObject_GetAttr(owner, rs_name(f, i));
    if (v != NULL && place == NULL) rs_fill_attr_cache(owner, rs_name(f, i), c, 0);
    return v;
}

/* A store into an empty place adds the attribute, as 3.11's
 * STORE_ATTR_INSTANCE_VALUE and _PyObject_StoreInstanceAttribute do: an
 * inline value also joins the instance's insertion order (what vars()
 * lists first). */
RS_HOT int rs_store_attr_cached(RsFrame *f, PyObject *owner, int i, PyObject *v, RsAttrCache *c) {
    Py_ssize_t values_index;
    PyObject **place = rs_attr_place(owner, c, &values_index);
    if (place != NULL) {
        PyObject *old = *place;
        *place = Py_NewRef(v);
        if (old != NULL) {
            Py_DECREF(old);
        } else if (values_index >= 0) {
            _PyDictValues_AddToInsertionOrder(((PyDictValues **)owner)[-4], values_index);
        }
        return 0;
    }
    int r = PyObject_SetAttr(owner, rs_name(f, i), v);
    if (r == 0) rs_fill_attr_cache(owner, rs_name(f, i), c, 1);
    return r;
}

static inline int rs_delete_attr(RsFrame *f, PyObject *owner, int i) {
    return PyObject_SetAttr(owner, rs_name(f, i), NULL);
}

/* list.append, looked up once per module (rs_import_api): `xs.append(v)`
 * on an exact list skips the method lookup and the descriptor's call, as
 * 3.11's LOAD_METHOD_NO_DICT and PRECALL_NO_KW_LIST_APPEND do.  (The list
 * type cannot be changed, so for an exact list the lookup always finds
 * this descriptor.) */
static PyObject *rs_append_descr = NULL;      /* borrowed from list's type dict */
static PyObject *rs_append_name = NULL;       /* the interned name, as in co_names */

/* LOAD_METHOD: returns the first stack value (the unbound method, or the
 * NULL sentinel); the second (self, or the plain attribute) is left in
 * f->second for rs_take_second. */
static inline PyObject *rs_load_method(RsFrame *f, PyObject *owner, int i) {
    if (Py_IS_TYPE(owner, &PyList_Type) && rs_name(f, i) == rs_append_name && rs_append_descr != NULL) {
        Py_XSETREF(f->second, Py_NewRef(owner));
        return Py_NewRef(rs_append_descr);
    }
    PyObject *meth = NULL;
    int is_method = _PyObject_GetMethod(owner, rs_name(f, i), &meth);
    if (meth == NULL) return NULL;
    Py_XSETREF(f->second, NULL);
    if (is_method) {
        Py_INCREF(owner);
        f->second = owner;
        return meth;
    }
    f->second = meth;
    return rs_null();
}

/* ---- methods (the caches above) ------------------------------------------------- */
static void rs_fill_method_cache(PyObject *owner, PyObject *name, RsMethodCache *c) {
    PyTypeObject *tp = Py_TYPE(owner);
    if (c->fills >= RS_CACHE_MAX_FILLS || rs_fill_module_way(owner, name, c, RS_METHOD_MODULE)) return;
    if (tp->tp_getattro != PyObject_GenericGetAttr || !PyUnicode_CheckExact(name)) return;
    PyObject *descr = _PyType_Lookup(tp, name);      /* also assigns a version tag */
    unsigned int version = rs_type_version(tp);
    if (descr == NULL || version == 0 || !PyType_HasFeature(Py_TYPE(descr), Py_TPFLAGS_METHOD_DESCRIPTOR)) return;
    int kind;
    PyDictKeysObject *keys = NULL;
    Py_ssize_t found = 0;
    if (tp->tp_flags & Py_TPFLAGS_MANAGED_DICT) {
        keys = (tp->tp_flags & Py_TPFLAGS_HEAPTYPE) ? ((PyHeapTypeObject *)tp)->ht_cached_keys : NULL;
        if (keys == NULL || !DK_IS_UNICODE(keys) || rs_shared_keys_index(keys, name) >= 0) return;
        kind = RS_METHOD_VALUES;
        found = keys->dk_nentries;
    } else if (tp->tp_dictoffset == 0) {
        kind = RS_METHOD_NO_DICT;
    } else {
        return;
    }
    RsCacheWay *w = rs_way_to_fill(c, tp);
    if (w != NULL) *w = (RsCacheWay){version, kind, found, keys, descr};
}

/* The method (borrowed) a way holds for `owner`, or NULL. */
RS_HOT PyObject *rs_cached_method(PyObject *owner, RsMethodCache *c) {
    PyTypeObject *tp = Py_TYPE(owner);
    for (int k = 0; k < RS_CACHE_WAYS; k++) {
        RsCacheWay *w = &c->way[k];
        if (w->version != tp->tp_version_tag) continue;
        if (w->kind == RS_METHOD_NO_DICT) return w->method;
        if (w->kind == RS_METHOD_VALUES) {
            /* 3.11's _PyObject_ValuesPointer: 4 words before the object */
            if (((PyDictValues **)owner)[-4] == NULL) return NULL;
            PyDictKeysObject *keys = ((PyHeapTypeObject *)tp)->ht_cached_keys;
            return keys == w->keys && keys->dk_nentries == w->index ? w->method : NULL;
        }
    }
    return NULL;
}

/* LOAD_METHOD through the site's cache (see rs_load_method). */
RS_HOT PyObject *rs_load_method_cached(RsFrame *f, PyObject *owner, int i, RsMethodCache *c) {
    PyObject *method = rs_cached_method(owner, c);
    if (method != NULL) {
        Py_XSETREF(f->second, Py_NewRef(owner));
        return Py_NewRef(method);
    }
    PyObject *v = rs_cached_module_attr(owner, rs_name(f, i), c, RS_METHOD_MODULE);
    if (v != NULL) {
        Py_XSETREF(f->second, Py_NewRef(v));
        return rs_null();
    }
    PyObject *r = rs_load_method(f, owner, i);
    if (r != NULL) rs_fill_method_cache(owner, rs_name(f, i), c);
    return r;
}


static inline PyObject *rs_take_second(RsFrame *f) {
    PyObject *v = f->second;
    f->second = NULL;
    return v;   /* never NULL when used right after its producer */
}

/* ---- calls ---------------------------------------------------------------
 * What the evaluator module (csrc/hook.c) offers compiled modules, through
 * the capsule restrain._hook._api, looked up once when a module loads
 * (rs_import_api; without it calls take the generic path). */
typedef struct {
    int version;                       /* RS_API_VERSION */
    PyTypeObject *swapped_type;        /* the type of functions routed to compiled code */
    /* Call a Python function with positional arguments only: when its code
     * is compiled, the compiled code runs directly (a frame on the thread's
     * frame stack, no vectorcall, no evaluator); otherwise the generic call. */
    PyObject *(*call_function)(PyObject *func, PyObject *const *args, size_t nargsf);
    /* The lowest stack address this thread's compiled code may use; 1: not known. */
    uintptr_t (*stack_limit)(void);
    /* Whether a code object's content digest (build.code_fingerprint) is
     * `fingerprint`: 1 yes, 0 no, -1 an interruption (KeyboardInterrupt)
     * came meanwhile and is set. */
    int (*code_matches)(PyObject *code, const char *fingerprint);
    /* The C version installed for a code object (emit.PureEmitter) if its
     * signature is `signature` ("ff>f": two doubles in, a double out; "i"
     * a long long), else NULL. */
    void *(*pure_version)(PyObject *code, const char *signature);
    /* The body of the frameless version (frameless.py) a frameless
     * version may call for `func` with `nargs` positional arguments (a
     * RsFlBody), or NULL: not a plain function, no such version, or
     * another number of arguments than it takes. */
    void *(*frameless_body)(PyObject *func, Py_ssize_t nargs);
    /* Changes whenever a frameless version is installed, dropped or freed
     * anywhere (or use_frameless is switched): a call site that found one
     * for a code object may call it again while this has not changed
     * (RsFlSite). */
    const Py_ssize_t *frameless_epoch;
    Py_ssize_t *nested_frameless_calls;     /* counted for the tests */
} RsApi;
#define RS_API_VERSION 6

static RsApi *rs_api = NULL;

static int rs_import_api(void) {
    rs_append_name = PyUnicode_InternFromString("append");
    rs_append_descr = rs_append_name == NULL ? NULL : PyDict_GetItemWithError(PyList_Type.tp_dict, rs_append_name);
    if (rs_append_descr == NULL || !Py_IS_TYPE(rs_append_descr, &PyMethodDescr_Type)) {
        rs_append_descr = NULL;      /* no fast path */
        PyErr_Clear();
    }
    RsApi *api = (RsApi *)PyCapsule_Import("restrain._hook._api", 0);
    if (api == NULL || api->version != RS_API_VERSION) {
        PyErr_Clear();
        return 0;
    }
    rs_api = api;
    return 0;
}

/* The stack below the arguments holds [NULL, callable] or [method, self]
 * (3.11 CALL).  `first` and `second` are those two values. */
static inline PyObject *rs_call_array(PyObject *first, PyObject *second,
                                      PyObject **args, Py_ssize_t nargs, PyObject *kwnames) {
    /* args[-1] is writable scratch space (PY_VECTORCALL_ARGUMENTS_OFFSET) */
    if (first == rs_append_descr && first != NULL && nargs == 1 && kwnames == NULL &&
            Py_IS_TYPE(second, &PyList_Type)) {
        /* [list.append, an exact list]: what the descriptor's call would do */
        if (PyList_Append(second, args[0]) < 0) return NULL;
        Py_RETURN_NONE;
    }
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    if (kwnames == NULL && rs_api != NULL) {
        PyObject *callable = first == RS_NULL ? second : first;
        PyTypeObject *type = Py_TYPE(callable);
        if (type == rs_api->swapped_type || type == &PyFunction_Type) {
            if (first == RS_NULL) {
                return rs_api->call_function(callable, args, nargs | PY_VECTORCALL_ARGUMENTS_OFFSET);
            }
            args[-1] = second;
            return rs_api->call_function(callable, args - 1, (nargs + 1) | PY_VECTORCALL_ARGUMENTS_OFFSET);
        }
    }
    if (first == RS_NULL) {
        return PyObject_Vectorcall(second, args, (nargs - nkw) | PY_VECTORCALL_ARGUMENTS_OFFSET, kwnames);
    }
    args[-1] = second;
    return PyObject_Vectorcall(first, args - 1, (nargs - nkw + 1) | PY_VECTORCALL_ARGUMENTS_OFFSET, kwnames);
}

static inline PyObject *rs_call0(PyObject *a, PyObject *b) {
    PyObject *st[1];
    return rs_call_array(a, b, st + 1, 0, NULL);
}
static inline PyObject *rs_call1(PyObject *a, PyObject *b, PyObject *x1) {
    PyObject *st[2] = {NULL, x1};
    return rs_call_array(a, b, st + 1, 1, NULL);
}
static inline PyObject *rs_call2(PyObject *a, PyObject *b, PyObject *x1, PyObject *x2) {
    PyObject *st[3] = {NULL, x1, x2};
    return rs_call_array(a, b, st + 1, 2, NULL);
}
static inline PyObject *rs_call3(PyObject *a, PyObject *b, PyObject *x1, PyObject *x2, PyObject *x3) {
    PyObject *st[4] = {NULL, x1, x2, x3};
    return rs_call_array(a, b, st + 1, 3, NULL);
}
static inline PyObject *rs_call4(PyObject *a, PyObject *b, PyObject *x1, PyObject *x2, PyObject *x3, PyObject *x4) {
    PyObject *st[5] = {NULL, x1, x2, x3, x4};
    return rs_call_array(a, b, st + 1, 4, NULL);
}

/* Any number of arguments (a tuple, positional then keyword values), with
 * optional keyword names (None when there are none). */
static inline PyObject *rs_call_n(PyObject *a, PyObject *b, PyObject *argtuple, PyObject *kwnames) {
    Py_ssize_t n = PyTuple_GET_SIZE(argtuple);
    PyObject *small[9];
    PyObject **st = n + 1 <= 9 ? small : PyMem_Malloc((n + 1) * sizeof(PyObject *));
    if (st == NULL) return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) st[i + 1] = PyTuple_GET_ITEM(argtuple, i);
    PyObject *res = rs_call_array(a, b, st + 1, n, kwnames == Py_None ? NULL : kwnames);
    if (st != small) PyMem_Free(st);
    return res;
}

static int rs_check_args_iterable(PyObject *func, PyObject *args) {
    if (Py_TYPE(args)->tp_iter == NULL && !PySequence_Check(args)) {
        PyObject *funcstr = _PyObject_FunctionStr(func);
        if (funcstr != NULL) {
            PyErr_Format(PyExc_TypeError, "%U argument after * must be an iterable, not %.200s",
                         funcstr, Py_TYPE(args)->tp_name);
            Py_DECREF(funcstr);
        }
        return -1;
    }
    return 0;
}

/* CALL_FUNCTION_EX: kwargs is RS_NULL when absent */
static inline PyObject *rs_call_ex(PyObject *func, PyObject *args, PyObject *kwargs) {
    PyObject *tuple;
    if (PyTuple_CheckExact(args)) {
        Py_INCREF(args);
        tuple = args;
    } else {
        if (rs_check_args_iterable(func, args) < 0) return NULL;
        tuple = PySequence_Tuple(args);
        if (tuple == NULL) return NULL;
    }
    PyObject *res = PyObject_Call(func, tuple, kwargs == RS_NULL ? NULL : kwargs);
    Py_DECREF(tuple);
    return res;
}

/* ---- operators ----------------------------------------------------------- */
/* Fast paths for the operand types 3.11's interpreter specialises too
 * (BINARY_OP_ADD_FLOAT, ..._INT): same results, no generic dispatch. */
RS_HOT int rs_small_int(PyObject *v, long *out) {
    if (!PyLong_CheckExact(v)) return 0;
    Py_ssize_t size = Py_SIZE(v);
    if (size < -1 || size > 1) return 0;
    *out = size * (long)((PyLongObject *)v)->ob_digit[0];
    return 1;
}

RS_HOT PyObject *rs_binary_fast(int op, PyObject *a, PyObject *b) {
    if (op >= 13) op -= 13;   /* in-place on immutable numbers = plain */
    if (PyFloat_CheckExact(a) && PyFloat_CheckExact(b)) {
        double x = PyFloat_AS_DOUBLE(a), y = PyFloat_AS_DOUBLE(b);
        switch (op) {
        case 0: return PyFloat_FromDouble(x + y);
        case 5: return PyFloat_FromDouble(x * y);
        case 10: return PyFloat_FromDouble(x - y);
        case 11: if (y != 0.0) return PyFloat_FromDouble(x / y); break;
        }
        return NULL;
    }
    long x, y;
    if (rs_small_int(a, &x) && rs_small_int(b, &y)) {
        switch (op) {   /* |x|, |y| < 2**30: no overflow in a 64-bit long */
        case 0: return PyLong_FromLong(x + y);
        case 5: return PyLong_FromLong(x * y);
        case 10: return PyLong_FromLong(x - y);
        case 1: return PyLong_FromLong(x & y);
        case 7: return PyLong_FromLong(x | y);
        case 12: return PyLong_FromLong(x ^ y);
        }
    }
    else if (PyLong_CheckExact(a) && PyLong_CheckExact(b)) {
        /* big ints (BINARY_OP_ADD_INT etc. take any exact int too): int's
         * own slots, without PyNumber_*'s dispatch over both types */
        PyNumberMethods *nb = PyLong_Type.tp_as_number;
        switch (op) {
        case 0: return nb->nb_add(a, b);
        case 5: return nb->nb_multiply(a, b);
        case 10: return nb->nb_subtract(a, b);
        }
    }
    return NULL;
}

RS_HOT PyObject *rs_binary_op(int op, PyObject *a, PyObject *b) {
    if (op == 0 || op == 5 || op == 10 || op == 11 || op == 13 || op == 18 || op == 23 || op == 24 ||
        op == 1 || op == 7 || op == 12 || op == 14 || op == 20 || op == 25) {
        PyObject *r = rs_binary_fast(op, a, b);
        if (r != NULL || PyErr_Occurred()) return r;
    }
    switch (op) {   /* the NB_* numbering of 3.11's BINARY_OP */
    case 0:  return PyNumber_Add(a, b);
    case 1:  return PyNumber_And(a, b);
    case 2:  return PyNumber_FloorDivide(a, b);
    case 3:  return PyNumber_Lshift(a, b);
    case 4:  return PyNumber_MatrixMultiply(a, b);
    case 5:  return PyNumber_Multiply(a, b);
    case 6:  return PyNumber_Remainder(a, b);
    case 7:  return PyNumber_Or(a, b);
    case 8:  return PyNumber_Power(a, b, Py_None);
    case 9:  return PyNumber_Rshift(a, b);
    case 10: return PyNumber_Subtract(a, b);
    case 11: return PyNumber_TrueDivide(a, b);
    case 12: return PyNumber_Xor(a, b);
    case 13: return PyNumber_InPlaceAdd(a, b);
    case 14: return PyNumber_InPlaceAnd(a, b);
    case 15: return PyNumber_InPlaceFloorDivide(a, b);
    case 16: return PyNumber_InPlaceLshift(a, b);
    case 17: return PyNumber_InPlaceMatrixMultiply(a, b);
    case 18: return PyNumber_InPlaceMultiply(a, b);
    case 19: return PyNumber_InPlaceRemainder(a, b);
    case 20: return PyNumber_InPlaceOr(a, b);
    case 21: return PyNumber_InPlacePower(a, b, Py_None);
    case 22: return PyNumber_InPlaceRshift(a, b);
    case 23: return PyNumber_InPlaceSubtract(a, b);
    case 24: return PyNumber_InPlaceTrueDivide(a, b);
    case 25: return PyNumber_InPlaceXor(a, b);
    }
    PyErr_SetString(PyExc_SystemError, "restrain: bad binary operator");
    return NULL;
}

static inline PyObject *rs_unary_op(int op, PyObject *v) {
    switch (op) {
    case 0: return PyNumber_Negative(v);
    case 1: return PyNumber_Positive(v);
    case 2: return PyNumber_Invert(v);
    }
    PyErr_SetString(PyExc_SystemError, "restrain: bad unary operator");
    return NULL;
}

RS_HOT PyObject *rs_bool(int v);

/* The result of comparison `op` given which of <, ==, > hold (none of them
 * for a NaN: then only != is true, as in Python). */
RS_HOT PyObject *rs_compare_result(int op, int lt, int eq, int gt) {
    switch (op) {
    case Py_LT: return rs_bool(lt);
    case Py_LE: return rs_bool(lt || eq);
    case Py_EQ: return rs_bool(eq);
    case Py_NE: return rs_bool(!eq);
    case Py_GT: return rs_bool(gt);
    default:    return rs_bool(gt || eq);   /* Py_GE */
    }
}

RS_HOT PyObject *rs_compare(PyObject *a, PyObject *b, int op) {
    if (PyFloat_CheckExact(a) && PyFloat_CheckExact(b)) {
        double x = PyFloat_AS_DOUBLE(a), y = PyFloat_AS_DOUBLE(b);
        return rs_compare_result(op, x < y, x == y, x > y);
    }
    long x, y;
    if (rs_small_int(a, &x) && rs_small_int(b, &y)) {
        return rs_compare_result(op, x < y, x == y, x > y);
    }
    return PyObject_RichCompare(a, b, op);
}

RS_HOT PyObject *rs_bool(int v) {
    PyObject *r = v ? Py_True : Py_False;
    Py_INCREF(r);
    return r;
}

RS_HOT PyObject *rs_is(PyObject *a, PyObject *b, int invert) {
    return rs_bool((a == b) ^ invert);
}

/* CONTAINS_OP: `left in right` */
static inline PyObject *rs_contains(PyObject *left, PyObject *right, int invert) {
    int r = PySequence_Contains(right, left);
    if (r < 0) return NULL;
    return rs_bool(r ^ invert);
}

RS_HOT int rs_truth(PyObject *v) {
    if (v == Py_True) return 1;
    if (v == Py_False || v == Py_None) return 0;
    return PyObject_IsTrue(v);
}

RS_HOT PyObject *rs_not(PyObject *v) {
    int r = rs_truth(v);
    if (r < 0) return NULL;
    return rs_bool(!r);
}

/* ---- subscripts ---------------------------------------------------------- */
/* list[int] and tuple[int] fast paths, as BINARY_SUBSCR_LIST_INT does */
RS_HOT PyObject *rs_getitem(PyObject *c, PyObject *k) {
    long i;
    if (rs_small_int(k, &i) && i >= 0) {
        if (PyList_CheckExact(c) && i < PyList_GET_SIZE(c)) {
            PyObject *v = PyList_GET_ITEM(c, i);
            Py_INCREF(v);
            return v;
        }
        if (PyTuple_CheckExact(c) && i < PyTuple_GET_SIZE(c)) {
            PyObject *v = PyTuple_GET_ITEM(c, i);
            Py_INCREF(v);
            return v;
        }
    }
    return PyObject_GetItem(c, k);
}

RS_HOT int rs_setitem(PyObject *c, PyObject *k, PyObject *v) {
    long i;
    if (PyList_CheckExact(c) && rs_small_int(k, &i) && i >= 0 && i < PyList_GET_SIZE(c)) {
        PyObject *old = PyList_GET_ITEM(c, i);
        Py_INCREF(v);
        PyList_SET_ITEM(c, i, v);
        Py_DECREF(old);
        return 0;
    }
    return PyObject_SetItem(c, k, v);
}
static inline int rs_delitem(PyObject *c, PyObject *k) { return PyObject_DelItem(c, k); }
static inline PyObject *rs_build_slice(PyObject *a, PyObject *b, PyObject *c) {
    return PySlice_New(a, b, c == RS_NULL ? NULL : c);
}

/* ---- displays ------------------------------------------------------------ */
static inline PyObject *rs_new_list(void) { return PyList_New(0); }
static inline PyObject *rs_new_set(void) { return PySet_New(NULL); }
static inline PyObject *rs_new_dict(void) { return PyDict_New(); }
static inline int rs_list_append(PyObject *list, PyObject *v) { return PyList_Append(list, v); }
static inline int rs_set_add(PyObject *set, PyObject *v) { return PySet_Add(set, v); }
static inline int rs_map_add(PyObject *d, PyObject *k, PyObject *v) { return PyDict_SetItem(d, k, v); }

static inline int rs_list_extend(PyObject *list, PyObject *iterable) {
    PyObject *none = _PyList_Extend((PyListObject *)list, iterable);
    if (none == NULL) {
        if (PyErr_ExceptionMatches(PyExc_TypeError) &&
            Py_TYPE(iterable)->tp_iter == NULL && !PySequence_Check(iterable)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "Value after * must be an iterable, not %.200s",
                         Py_TYPE(iterable)->tp_name);
        }
        return -1;
    }
    Py_DECREF(none);
    return 0;
}

static inline int rs_set_update(PyObject *set, PyObject *iterable) {
    return _PySet_Update(set, iterable);
}

static inline int rs_dict_update(PyObject *d, PyObject *update) {
    if (PyDict_Update(d, update) < 0) {
        if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "'%.200s' object is not a mapping", Py_TYPE(update)->tp_name);
        }
        return -1;
    }
    return 0;
}

/* DICT_MERGE (building **kwargs for a call to func) */
static inline int rs_dict_merge(PyObject *func, PyObject *d, PyObject *update) {
    if (_PyDict_MergeEx(d, update, 2) == 0) return 0;
    PyObject *exc, *val, *tb;
    if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Fetch(&exc, &val, &tb);
        PyObject *funcstr = _PyObject_FunctionStr(func);
        if (funcstr != NULL) {
            PyErr_Format(PyExc_TypeError, "%U argument after ** must be a mapping, not %.200s",
                         funcstr, Py_TYPE(update)->tp_name);
            Py_DECREF(funcstr);
        }
        Py_XDECREF(exc); Py_XDECREF(val); Py_XDECREF(tb);
    } else if (PyErr_ExceptionMatches(PyExc_KeyError)) {
        PyErr_Fetch(&exc, &val, &tb);
        PyErr_NormalizeException(&exc, &val, &tb);
        PyObject *args = val ? PyObject_GetAttrString(val, "args") : NULL;
        if (args && PyTuple_Check(args) && PyTuple_GET_SIZE(args) == 1) {
            PyObject *funcstr = _PyObject_FunctionStr(func);
            if (funcstr != NULL) {
                PyErr_Format(PyExc_TypeError, "%U got multiple values for keyword argument '%S'",
                             funcstr, PyTuple_GET_ITEM(args, 0));
                Py_DECREF(funcstr);
            }
            Py_XDECREF(exc); Py_XDECREF(val); Py_XDECREF(tb);
        } else {
            PyErr_Restore(exc, val, tb);
        }
        Py_XDECREF(args);
    }
    return -1;
}

static inline PyObject *rs_list_to_tuple(PyObject *list) { return PyList_AsTuple(list); }

/* BUILD_CONST_KEY_MAP: keys is the constant tuple, values a tuple */
static inline PyObject *rs_const_key_map(PyObject *keys, PyObject *values) {
    Py_ssize_t n = PyTuple_GET_SIZE(keys);
    PyObject *d = _PyDict_NewPresized(n);
    if (d == NULL) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyDict_SetItem(d, PyTuple_GET_ITEM(keys, i), PyTuple_GET_ITEM(values, i)) < 0) {
            Py_DECREF(d);
            return NULL;
        }
    }
    return d;
}

static inline PyObject *rs_build_string(PyObject *parts) {
    PyObject *empty = PyUnicode_New(0, 0);
    if (empty == NULL) return NULL;
    PyObject *s = _PyUnicode_JoinArray(empty, &PyTuple_GET_ITEM(parts, 0), PyTuple_GET_SIZE(parts));
    Py_DECREF(empty);
    return s;
}

/* FORMAT_VALUE: conv 0 none, 1 str, 2 repr, 3 ascii; spec RS_NULL if absent */
static inline PyObject *rs_format(PyObject *value, int conv, PyObject *spec) {
    PyObject *converted = NULL;
    switch (conv) {
    case 1: converted = PyObject_Str(value); break;
    case 2: converted = PyObject_Repr(value); break;
    case 3: converted = PyObject_ASCII(value); break;
    default: Py_INCREF(value); converted = value;
    }
    if (converted == NULL) return NULL;
    if (spec == RS_NULL && PyUnicode_CheckExact(converted)) return converted;
    PyObject *res = PyObject_Format(converted, spec == RS_NULL ? NULL : spec);
    Py_DECREF(converted);
    return res;
}

/* ---- unpacking (ceval.c's unpack_iterable) --------------------------------
 * Returns a tuple in source order: argcnt items, then (argcntafter >= 0)
 * a list of the starred middle, then argcntafter items. */
static PyObject *rs_unpack(PyObject *v, int argcnt, int argcntafter) {
    int total = argcnt + (argcntafter >= 0 ? 1 + argcntafter : 0);
    PyObject *it = PyObject_GetIter(v);
    if (it == NULL) {
        if (PyErr_ExceptionMatches(PyExc_TypeError) &&
            Py_TYPE(v)->tp_iter == NULL && !PySequence_Check(v)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "cannot unpack non-iterable %.200s object",
                         Py_TYPE(v)->tp_name);
        }
        return NULL;
    }
    PyObject *out = PyTuple_New(total);
    if (out == NULL) { Py_DECREF(it); return NULL; }
    int i;
    for (i = 0; i < argcnt; i++) {
        PyObject *w = PyIter_Next(it);
        if (w == NULL) {
            if (!PyErr_Occurred()) {
                if (argcntafter == -1) {
                    PyErr_Format(PyExc_ValueError,
                                 "not enough values to unpack (expected %d, got %d)", argcnt, i);
                } else {
                    PyErr_Format(PyExc_ValueError,
                                 "not enough values to unpack (expected at least %d, got %d)",
                                 argcnt + argcntafter, i);
                }
            }
            goto error;
        }
        PyTuple_SET_ITEM(out, i, w);
    }
    if (argcntafter == -1) {
        PyObject *w = PyIter_Next(it);
        if (w == NULL) {
            if (PyErr_Occurred()) goto error;
            Py_DECREF(it);
            return out;
        }
        Py_DECREF(w);
        PyErr_Format(PyExc_ValueError, "too many values to unpack (expected %d)", argcnt);
        goto error;
    }
    PyObject *l = PySequence_List(it);
    if (l == NULL) goto error;
    PyTuple_SET_ITEM(out, i, l);
    i++;
    Py_ssize_t ll = PyList_GET_SIZE(l);
    if (ll < argcntafter) {
        PyErr_Format(PyExc_ValueError, "not enough values to unpack (expected at least %d, got %zd)",
                     argcnt + argcntafter, argcnt + ll);
        goto error;
    }
    for (int j = argcntafter; j > 0; j--, i++) {
        PyTuple_SET_ITEM(out, i, PyList_GET_ITEM(l, ll - j));
        Py_INCREF(PyList_GET_ITEM(l, ll - j));
    }
    if (PyList_SetSlice(l, ll - argcntafter, ll, NULL) < 0) goto error;
    Py_DECREF(it);
    return out;
error:
    Py_DECREF(it);
    Py_DECREF(out);   /* unfilled slots are NULL: tuple dealloc tolerates them */
    return NULL;
}

static inline PyObject *rs_unpack_sequence(PyObject *v, int n) {
    if (PyTuple_CheckExact(v) && PyTuple_GET_SIZE(v) == n) {
        Py_INCREF(v);
        return v;
    }
    if (PyList_CheckExact(v) && PyList_GET_SIZE(v) == n) {
        return PyList_AsTuple(v);
    }
    return rs_unpack(v, n, -1);
}

/* UNPACK_SEQUENCE of an exact list or tuple of the right length: the
 * items are taken straight from it (no intermediate tuple). */
RS_HOT int rs_is_exact_seq(PyObject *v, int n) {
    return (PyTuple_CheckExact(v) && PyTuple_GET_SIZE(v) == n)
        || (PyList_CheckExact(v) && PyList_GET_SIZE(v) == n);
}
/* item i of such a sequence, borrowed (frameless versions) */
static inline PyObject *rs_fl_item(PyObject *v, Py_ssize_t i) {
    return PyTuple_CheckExact(v) ? PyTuple_GET_ITEM(v, i) : PyList_GET_ITEM(v, i);
}
RS_HOT PyObject *rs_seq_item(PyObject *v, int i) {
    return Py_NewRef(rs_fl_item(v, i));
}

static inline PyObject *rs_unpack_ex(PyObject *v, int before, int after) {
    return rs_unpack(v, before, after);
}

/* ---- iteration -----------------------------------------------------------
 * 3.11's list and tuple iterators (Objects/listobject.c listiterobject,
 * tupleobject.c tupleiterobject; in no header) share this layout. */
typedef struct {
    PyObject_HEAD
    Py_ssize_t it_index;
    PyObject *it_seq;       /* NULL once exhausted */
} rs_seqiterobject_311;

/* A loop over a list or tuple inside another loop makes an iterator per
 * turn of the outer one (simpson_poly's coefficients: a third of its time
 * went to making and freeing them).  An exhausted one that nothing else
 * holds is kept, one per type and module, and started again for the next
 * loop instead (it stays tracked by the garbage collector, as a new one
 * would be).  Only under the GIL, like everything here. */
static PyObject *rs_spare_iter[2] = {NULL, NULL};     /* list, tuple */
static PyObject *rs_spare_range_iter = NULL;          /* rs_range_iter's */

static inline PyObject *rs_get_iter(PyObject *v) {
    int k = PyList_CheckExact(v) ? 0 : PyTuple_CheckExact(v) ? 1 : -1;
    if (k >= 0 && rs_spare_iter[k] != NULL) {
        rs_seqiterobject_311 *it = (rs_seqiterobject_311 *)rs_spare_iter[k];
        rs_spare_iter[k] = NULL;
        if (Py_REFCNT(it) != 1) {       /* found by gc.get_objects() and kept */
            Py_DECREF(it);
            return PyObject_GetIter(v);
        }
        it->it_index = 0;
        it->it_seq = Py_NewRef(v);
        return (PyObject *)it;
    }
    return PyObject_GetIter(v);
}

/* The next item of a list or tuple iterator (rs_is_seqiter), as its own
 * tp_iternext reads it but borrowed, without the call; NULL once exhausted:
 * the iterator then lets go of its sequence, whose items' __del__ may run
 * (prev_instr is stored first, at `index` unless it is -1: done already). */
RS_HOT int rs_is_seqiter(PyObject *it) {
    return Py_IS_TYPE(it, &PyListIter_Type) || Py_IS_TYPE(it, &PyTupleIter_Type);
}

RS_HOT PyObject *rs_seqiter_next(RsFrame *f, int index, PyObject *it) {
    rs_seqiterobject_311 *s = (rs_seqiterobject_311 *)it;
    PyObject *seq = s->it_seq;
    if (seq == NULL) return NULL;
    if (Py_IS_TYPE(it, &PyListIter_Type)) {
        if (s->it_index < PyList_GET_SIZE(seq)) return PyList_GET_ITEM(seq, s->it_index++);
    } else if (s->it_index < PyTuple_GET_SIZE(seq)) {
        return PyTuple_GET_ITEM(seq, s->it_index++);
    }
    if (index >= 0) rs_at(f, index);
    s->it_seq = NULL;
    Py_DECREF(seq);
    return NULL;
}

/* At a loop's end, before the compiled code drops its iterator. */
RS_HOT void rs_keep_spare_iter(PyObject *it) {
    if (Py_IS_TYPE(it, &PyRangeIter_Type)) {       /* not tracked by the gc: nothing else can see it */
        if (rs_spare_range_iter == NULL && Py_REFCNT(it) == 1) rs_spare_range_iter = Py_NewRef(it);
        return;
    }
    int k = Py_IS_TYPE(it, &PyListIter_Type) ? 0 : Py_IS_TYPE(it, &PyTupleIter_Type) ? 1 : -1;
    if (k >= 0 && rs_spare_iter[k] == NULL && Py_REFCNT(it) == 1
            && ((rs_seqiterobject_311 *)it)->it_seq == NULL)
        rs_spare_iter[k] = Py_NewRef(it);
}

/* FOR_ITER: the next item, or RS_NULL when the iterator is exhausted */
RS_HOT PyObject *rs_for_iter(PyObject *it) {
    PyObject *next = (*Py_TYPE(it)->tp_iternext)(it);
    if (next != NULL) return next;
    if (PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_StopIteration)) return NULL;
        PyErr_Clear();
    }
    return rs_null();
}

/* FOR_ITER whose item the loop body stores into local i first thing
 * (emit.ModuleEmitter.stored_item): the item goes straight into the local,
 * without passing through a variable of its own.  prev_instr is stored
 * before.  1: stored, 0: exhausted, -1: the iterator raised. */
RS_HOT int rs_for_iter_store(RsFrame *f, PyObject *it, int i) {
    PyObject *item;
    if (rs_is_seqiter(it)) {
        item = rs_seqiter_next(f, -1, it);
        if (item == NULL) return 0;
        Py_INCREF(item);
    } else {
        item = rs_for_iter(it);
        if (item == NULL) return -1;
        if (item == RS_NULL) { Py_DECREF(item); return 0; }
    }
    PyObject *old = f->locals[i];
    f->locals[i] = item;
    Py_XDECREF(old);
    return 1;
}

/* ---- loops over a list by index -------------------------------------------
 * A loop whose iterator nothing but the loop itself uses (its FOR_ITER and
 * the pop at its end: emit.ModuleEmitter.c_loops) runs over an
 * exact list by index, as a C variable: the list itself is held where the
 * iterator would be (one reference, as the iterator's), *seq points to it
 * and *cur counts, so an item costs a bounds check and a load instead of
 * the iterator's type checks and its fields in memory.  The size is read
 * again for every item, as listiter_next does: the body may append or
 * delete.  Anything else (a tuple, a generator, a list subclass): *seq is
 * NULL and the loop runs its iterator as before.  Whenever the interpreter
 * could see the iterator (a deoptimisation with it on the stack) a list
 * iterator at that index is made (rs_index_iter_at). */
static inline PyObject *rs_get_iter_indexed(PyObject *v, PyObject **seq, long long *cur) {
    *cur = 0;
    if (PyList_CheckExact(v)) {
        *seq = v;
        return Py_NewRef(v);
    }
    *seq = NULL;
    return rs_get_iter(v);
}

/* Whether a loop by index is at its end: then prev_instr is the loop's
 * (`index`), for anything the list's release may run (its items' __del__),
 * as in rs_seqiter_next.  (A test of its own, not a NULL item: an item
 * within the size is never NULL, which the C compiler cannot know.) */
RS_HOT int rs_list_done(RsFrame *f, int index, PyObject *seq, long long cur) {
    if (RS_LIKELY(cur < PyList_GET_SIZE(seq))) return 0;
    rs_at(f, index);
    return 1;
}

/* FOR_ITER, its item an object (rs_for_iter) */
RS_HOT PyObject *rs_for_index(RsFrame *f, int index, PyObject *it, PyObject *seq, long long *cur) {
    if (RS_UNLIKELY(seq == NULL)) return rs_for_iter(it);
    if (rs_list_done(f, index, seq, *cur)) return rs_null();
    return Py_NewRef(PyList_GET_ITEM(seq, (*cur)++));
}

/* FOR_ITER whose item goes straight into local i (rs_for_iter_store) */
RS_HOT int rs_for_index_store(RsFrame *f, int index, PyObject *it, PyObject *seq, long long *cur, int i) {
    if (RS_UNLIKELY(seq == NULL)) return rs_for_iter_store(f, it, i);
    if (rs_list_done(f, index, seq, *cur)) return 0;
    rs_store_fast(f, i, PyList_GET_ITEM(seq, (*cur)++));
    return 1;
}

/* The loop's iterator as the interpreter would hold it: a new reference. */
static PyObject *rs_index_iter_at(PyObject *it, PyObject *seq, long long cur) {
    if (seq == NULL) return Py_NewRef(it);
    PyObject *made = PyObject_GetIter(seq);
    if (made != NULL) ((rs_seqiterobject_311 *)made)->it_index = (Py_ssize_t)cur;
    return made;
}

/* ---- functions ----------------------------------------------------------- */
static inline PyObject *rs_make_function(RsFrame *f, PyObject *code, PyObject *closure,
                                         PyObject *annotations, PyObject *kwdefaults,
                                         PyObject *defaults) {
    PyFunctionObject *func = (PyFunctionObject *)PyFunction_New(code, f->frame->f_globals);
    if (func == NULL) return NULL;
#define RS_SETFIELD(field, v) if (v != RS_NULL) { Py_INCREF(v); Py_XSETREF(func->field, v); }
    RS_SETFIELD(func_closure, closure);
    RS_SETFIELD(func_annotations, annotations);
    RS_SETFIELD(func_kwdefaults, kwdefaults);
    RS_SETFIELD(func_defaults, defaults);
#undef RS_SETFIELD
    return (PyObject *)func;
}

/* ---- imports ------------------------------------------------------------- */
static inline PyObject *rs_import_name(RsFrame *f, int i, PyObject *fromlist, PyObject *level) {
    PyObject *import_func = PyDict_GetItemString(f->frame->f_builtins, "__import__");
    if (import_func == NULL) {
        PyErr_SetString(PyExc_ImportError, "__import__ not found");
        return NULL;
    }
    PyObject *locals = f->frame->f_locals ? f->frame->f_locals : Py_None;
    PyObject *args[5] = {rs_name(f, i), f->frame->f_globals, locals, fromlist, level};
    return PyObject_Vectorcall(import_func, args, 5, NULL);
}

static inline PyObject *rs_import_from(RsFrame *f, PyObject *module, int i) {
    PyObject *name = rs_name(f, i);
    PyObject *x;
    if (_PyObject_LookupAttr(module, name, &x) != 0) return x;
    /* circular imports: fall back to sys.modules["pkg.name"] */
    PyObject *pkgname = PyObject_GetAttrString(module, "__name__");
    if (pkgname != NULL && PyUnicode_Check(pkgname)) {
        PyObject *fullname = PyUnicode_FromFormat("%U.%U", pkgname, name);
        if (fullname != NULL) {
            x = PyImport_GetModule(fullname);
            Py_DECREF(fullname);
            if (x != NULL) { Py_DECREF(pkgname); return x; }
        }
    }
    if (PyErr_Occurred()) PyErr_Clear();
    PyObject *pkgpath = PyModule_Check(module) ? PyModule_GetFilenameObject(module) : NULL;
    if (pkgpath == NULL) PyErr_Clear();
    if (pkgname == NULL || !PyUnicode_Check(pkgname)) {
        Py_XDECREF(pkgname);
        pkgname = PyUnicode_FromString("<unknown module name>");
    }
    PyObject *msg = pkgpath == NULL
        ? PyUnicode_FromFormat("cannot import name %R from %R (unknown location)", name, pkgname)
        : PyUnicode_FromFormat("cannot import name %R from %R (%S)", name, pkgname, pkgpath);
    if (msg != NULL) {
        PyErr_SetImportError(msg, pkgname, pkgpath);
        Py_DECREF(msg);
    }
    Py_XDECREF(pkgname);
    Py_XDECREF(pkgpath);
    return NULL;
}

/* ---- exceptions -----------------------------------------------------------
 * Tracebacks: Cython adds an entry naming the generated .pyx file whenever
 * an exception passes through generated code.  Those entries are removed
 * and replaced by this frame's own entry, so users see exactly the
 * interpreter's traceback. */
static inline int rs_is_generated_code(PyCodeObject *co) {
    /* Generated modules are named rsjit_<key>.pyx (see restrain/build.py) */
    const char *fn = PyUnicode_Check(co->co_filename) ? PyUnicode_AsUTF8(co->co_filename) : NULL;
    if (fn == NULL) { PyErr_Clear(); return 0; }
    size_t n = strlen(fn);
    return n > 4 && strcmp(fn + n - 4, ".pyx") == 0 && strstr(fn, "rsjit_") != NULL;
}

/* Drop leading generated entries from a traceback (steals tb, returns new) */
static inline PyObject *rs_strip_generated(PyObject *tb) {
    while (tb != NULL && tb != Py_None && PyTraceBack_Check(tb)) {
        PyTracebackObject *t = (PyTracebackObject *)tb;
        if (!rs_is_generated_code(t->tb_frame->f_frame->f_code)) break;
        PyObject *next = (PyObject *)t->tb_next;
        Py_XINCREF(next);
        Py_DECREF(tb);
        tb = next;
    }
    return tb;
}

/* The exception state at an error leaving compiled code or being caught in
 * it: strip generated entries, add this frame's entry unless it is there. */
static inline void rs_fix_traceback(RsFrame *f, PyObject **tb) {
    *tb = rs_strip_generated(*tb);
    if (f->reraise) {
        f->reraise = 0;
        return;
    }
    PyFrameObject *fo = PyEval_GetFrame();   /* our frame is the current one */
    if (fo == NULL) return;
    PyObject *newtb = _PyTraceBack_FromFrame(*tb == Py_None ? NULL : *tb, fo);
    if (newtb == NULL) { PyErr_Clear(); return; }
    Py_XDECREF(*tb);
    *tb = newtb;
}

/* Called first in the generated `except BaseException as e:` clause */
static inline PyObject *rs_catch(RsFrame *f, PyObject *e) {
    PyObject *tb = PyException_GetTraceback(e);
    rs_fix_traceback(f, &tb);
    PyException_SetTraceback(e, tb ? tb : Py_None);
    Py_XDECREF(tb);
    Py_INCREF(e);
    return e;
}

/* No handler in this frame: let the caught exception continue outwards.
 * Its traceback already has this frame's entry. */
static inline int rs_propagate(RsFrame *f, PyObject *e) {
    f->reraise = 1;
    PyObject *tb = PyException_GetTraceback(e);
    Py_INCREF(e);
    Py_INCREF(Py_TYPE(e));
    PyErr_Restore((PyObject *)Py_TYPE(e), e, tb);
    return -1;
}

/* The instruction index to search the exception table with */
static inline int rs_lasti(RsFrame *f) {
    int i = f->unwind_index;
    f->unwind_index = -1;
    return i >= 0 ? i : (int)(f->frame->prev_instr - f->first_instr);
}
/* The value pushed for handlers with lasti: prev_instr */
static inline PyObject *rs_lasti_obj(RsFrame *f) {
    return PyLong_FromLong((long)(f->frame->prev_instr - f->first_instr));
}

static inline void rs_set_exc_value(RsFrame *f, PyObject *v) {
    _PyErr_StackItem *info = f->tstate->exc_info;
    Py_XINCREF(v);
    Py_XSETREF(info->exc_value, v);
}

/* Put back what the exception state must be for this frame (see exc_shadow) */
static inline void rs_restore_exc_info(RsFrame *f) {
    if (f->tstate->exc_info->exc_value != f->exc_shadow) rs_set_exc_value(f, f->exc_shadow);
}

/* PUSH_EXC_INFO: returns the previous exception (or None) */
static inline PyObject *rs_push_exc_info(RsFrame *f, PyObject *exc) {
    _PyErr_StackItem *info = f->tstate->exc_info;
    PyObject *prev = info->exc_value != NULL ? info->exc_value : Py_None;
    Py_INCREF(prev);
    rs_set_exc_value(f, exc);
    Py_INCREF(exc);
    Py_XSETREF(f->exc_shadow, exc);
    return prev;
}

/* POP_EXCEPT */
static inline void rs_pop_except(RsFrame *f, PyObject *prev) {
    rs_set_exc_value(f, prev);
    Py_INCREF(prev);
    Py_XSETREF(f->exc_shadow, prev);
}

static inline PyObject *rs_check_exc_match(PyObject *exc, PyObject *type) {
    /* check_except_type_valid */
    if (PyTuple_Check(type)) {
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(type); i++) {
            PyObject *t = PyTuple_GET_ITEM(type, i);
            if (!PyExceptionClass_Check(t)) goto bad;
        }
    } else if (!PyExceptionClass_Check(type)) {
        goto bad;
    }
    return rs_bool(PyErr_GivenExceptionMatches(exc, type));
bad:
    PyErr_SetString(PyExc_TypeError,
                    "catching classes that do not inherit from BaseException is not allowed");
    return NULL;
}

static inline PyObject *rs_assertion_error(void) {
    Py_INCREF(PyExc_AssertionError);
    return PyExc_AssertionError;
}

/* RAISE_VARARGS: exc and cause are RS_NULL when absent (bare `raise`).
 * Always returns -1 with the exception set (ceval.c's do_raise). */
static inline int rs_raise(RsFrame *f, PyObject *exc, PyObject *cause) {
    PyObject *type = NULL, *value = NULL;
    if (exc == RS_NULL) {
        _PyErr_StackItem *info = _PyErr_GetTopmostException(f->tstate);
        PyObject *v = info->exc_value;
        if (v == NULL || v == Py_None) {
            PyErr_SetString(PyExc_RuntimeError, "No active exception to reraise");
            return -1;
        }
        Py_INCREF(v);
        Py_INCREF(Py_TYPE(v));
        PyErr_Restore((PyObject *)Py_TYPE(v), v, PyException_GetTraceback(v));
        f->reraise = 1;
        return -1;
    }
    if (PyExceptionClass_Check(exc)) {
        type = exc;
        Py_INCREF(type);
        value = PyObject_CallNoArgs(exc);
        if (value == NULL) goto raise_error;
        if (!PyExceptionInstance_Check(value)) {
            PyErr_Format(PyExc_TypeError,
                         "calling %R should have returned an instance of BaseException, not %R",
                         type, Py_TYPE(value));
            goto raise_error;
        }
    } else if (PyExceptionInstance_Check(exc)) {
        value = exc;
        Py_INCREF(value);
        type = (PyObject *)Py_TYPE(value);
        Py_INCREF(type);
    } else {
        PyErr_SetString(PyExc_TypeError, "exceptions must derive from BaseException");
        goto raise_error;
    }
    if (cause != RS_NULL) {
        PyObject *fixed_cause;
        if (PyExceptionClass_Check(cause)) {
            fixed_cause = PyObject_CallNoArgs(cause);
            if (fixed_cause == NULL) goto raise_error;
        } else if (PyExceptionInstance_Check(cause)) {
            fixed_cause = cause;
            Py_INCREF(fixed_cause);
        } else if (cause == Py_None) {
            fixed_cause = NULL;
        } else {
            PyErr_SetString(PyExc_TypeError, "exception causes must derive from BaseException");
            goto raise_error;
        }
        PyException_SetCause(value, fixed_cause);
    }
    PyErr_SetObject(type, value);
    Py_DECREF(value);
    Py_DECREF(type);
    return -1;
raise_error:
    Py_XDECREF(value);
    Py_XDECREF(type);
    return -1;
}

/* RERAISE: lasti is RS_NULL, or the int pushed by the handler entry */
static inline int rs_reraise(RsFrame *f, PyObject *exc, PyObject *lasti) {
    f->unwind_index = (int)(f->frame->prev_instr - f->first_instr);
    if (lasti != RS_NULL) {
        long i = PyLong_AsLong(lasti);
        if (i < 0 && PyErr_Occurred()) return -1;
        f->frame->prev_instr = f->first_instr + i;
    }
    Py_INCREF(exc);
    Py_INCREF(Py_TYPE(exc));
    PyErr_Restore((PyObject *)Py_TYPE(exc), exc, PyException_GetTraceback(exc));
    f->reraise = 1;
    return -1;
}

/* ---- with ---------------------------------------------------------------- */
static PyObject *rs_interned(PyObject **slot, const char *s) {
    if (*slot == NULL) *slot = PyUnicode_InternFromString(s);
    return *slot;
}

/* typeobject.c's _PyObject_LookupSpecial: look up on the type, bind */
static PyObject *rs_lookup_special(PyObject *self, PyObject *name) {
    PyObject *res = _PyType_Lookup(Py_TYPE(self), name);
    if (res == NULL) return NULL;
    descrgetfunc get = Py_TYPE(res)->tp_descr_get;
    if (get == NULL) {
        Py_INCREF(res);
        return res;
    }
    return get(res, self, (PyObject *)Py_TYPE(self));
}

static inline PyObject *rs_before_with(RsFrame *f, PyObject *mgr) {
    static PyObject *s_enter, *s_exit;
    if (!rs_interned(&s_enter, "__enter__") || !rs_interned(&s_exit, "__exit__")) return NULL;
    PyObject *enter = rs_lookup_special(mgr, s_enter);
    if (enter == NULL) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError,
                         "'%.200s' object does not support the context manager protocol",
                         Py_TYPE(mgr)->tp_name);
        return NULL;
    }
    PyObject *exit = rs_lookup_special(mgr, s_exit);
    if (exit == NULL) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError,
                         "'%.200s' object does not support the context manager protocol "
                         "(missed __exit__ method)", Py_TYPE(mgr)->tp_name);
        Py_DECREF(enter);
        return NULL;
    }
    PyObject *res = PyObject_CallNoArgs(enter);
    Py_DECREF(enter);
    if (res == NULL) {
        Py_DECREF(exit);
        return NULL;
    }
    Py_XSETREF(f->second, exit);
    return res;
}

static inline PyObject *rs_with_except_start(PyObject *exit_func, PyObject *val) {
    PyObject *tb = PyException_GetTraceback(val);
    PyObject *stack[4] = {NULL, (PyObject *)Py_TYPE(val), val, tb ? tb : Py_None};
    PyObject *res = PyObject_Vectorcall(exit_func, stack + 1, 3 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    Py_XDECREF(tb);
    return res;
}


/* ==== typed code (restrain/types.py) ======================================
 * Values the type pass proved or guessed to be int or float live in C
 * variables (long long, double).  Every helper below that can leave the C
 * type returns 1 instead ("deoptimise"): the generated code then writes
 * the live state back into the frame and the interpreter re-runs the
 * instruction, raising exactly what CPython raises (ZeroDivisionError,
 * OverflowError, ValueError) or computing the big-int / complex result.
 * So these only need to be exact where they return 0. */

/* ---- deoptimisation ------------------------------------------------------
 * Resume the interpreter at instruction `resume`: 3.11 runs the
 * instruction after prev_instr, with the value stack in localsplus above
 * the locals (design.md, fact 4). */
RS_HOT void rs_deopt_begin(RsFrame *f, int resume) {
    f->frame->prev_instr = f->first_instr + resume - 1;
    f->deopt_depth = 0;
    f->deopt_index = resume;
}
static inline void rs_deopt_push(RsFrame *f, PyObject *v) {
    PyObject **slot = &f->frame->localsplus[f->frame->f_code->co_nlocalsplus + f->deopt_depth++];
    *slot = v == RS_NULL ? NULL : Py_NewRef(v);
}
/* The compiled entry returns this; the evaluator sees f->deopt. */
static inline PyObject *rs_deopted(RsFrame *f) {
    f->frame->stacktop = f->frame->f_code->co_nlocalsplus + f->deopt_depth;
    f->deopt = 1;
    return Py_NewRef(RS_NULL);
}
static int rs_unbound_local_error(RsFrame *f, int i) {
    rs_unbound_local(f, i);
    return -1;
}
/* A local's current value (arguments, at entry); new reference. */
RS_HOT PyObject *rs_local(RsFrame *f, int i) {
    PyObject *v = f->locals[i];
    return Py_NewRef(v ? v : Py_None);
}

/* ---- unboxing a guessed object -------------------------------------------- */
RS_HOT int rs_unbox_float(PyObject *o, double *r) {
    if (RS_UNLIKELY(!PyFloat_CheckExact(o))) return 1;
    *r = PyFloat_AS_DOUBLE(o);
    return 0;
}
/* 3.11 ints: ob_size is the signed digit count (30-bit digits). */
RS_HOT int rs_unbox_int(PyObject *o, long long *r) {
    if (RS_UNLIKELY(!PyLong_CheckExact(o))) return 1;
    Py_ssize_t size = Py_SIZE(o);
    if (size == 0) { *r = 0; return 0; }
    if (RS_LIKELY(size == 1)) { *r = ((PyLongObject *)o)->ob_digit[0]; return 0; }
    if (RS_LIKELY(size == -1)) { *r = -(long long)((PyLongObject *)o)->ob_digit[0]; return 0; }
    int overflow;
    *r = PyLong_AsLongLongAndOverflow(o, &overflow);
    return overflow != 0;
}

/* ---- for c in xs, c a float or an int (types.item_guess) ------------------
 * The next item unboxed as the loop fetches it.  Returns 1: the item is in
 * *out; 0: exhausted; 2: an item of another type, a new reference in *other
 * (the compiled code deoptimises after the FOR_ITER with it on the stack);
 * -1: the iterator raised.  Lists and tuples are read as their own
 * iterators read them, without the call; anything else through tp_iternext
 * (prev_instr stored first, for a traceback). */
#define RS_FOR_ITER_UNBOXED(rep, ctype, unbox)                                               \
RS_HOT int rs_for_iter_##rep(RsFrame *f, int index, PyObject *it, ctype *out, PyObject **other) { \
    PyObject *item;                                                                         \
    if (rs_is_seqiter(it)) {                                                                \
        item = rs_seqiter_next(f, index, it);                                               \
        if (item == NULL) return 0;                                                         \
        if (!unbox(item, out)) return 1;                                                    \
        Py_INCREF(item);                                                                    \
    } else {                                                                                \
        rs_at(f, index);                                                                    \
        item = rs_for_iter(it);                                                             \
        if (item == NULL) return -1;                                                        \
        if (item == RS_NULL) { Py_DECREF(item); return 0; }                                 \
        if (!unbox(item, out)) { Py_DECREF(item); return 1; }                               \
    }                                                                                       \
    *other = item;                                                                          \
    return 2;                                                                               \
}
RS_FOR_ITER_UNBOXED(int, long long, rs_unbox_int)
RS_FOR_ITER_UNBOXED(float, double, rs_unbox_float)

/* The same over a list by index (rs_get_iter_indexed); seq NULL: the iterator. */
#define RS_FOR_INDEX_UNBOXED(rep, ctype, unbox)                                              \
RS_HOT int rs_for_index_##rep(RsFrame *f, int index, PyObject *it, PyObject *seq, long long *cur, \
                              ctype *out, PyObject **other) {                                \
    if (RS_UNLIKELY(seq == NULL)) return rs_for_iter_##rep(f, index, it, out, other);       \
    if (rs_list_done(f, index, seq, *cur)) return 0;                                        \
    PyObject *item = PyList_GET_ITEM(seq, (*cur)++);                                        \
    if (RS_LIKELY(!unbox(item, out))) return 1;                                             \
    *other = Py_NewRef(item);                                                               \
    return 2;                                                                               \
}
RS_FOR_INDEX_UNBOXED(int, long long, rs_unbox_int)
RS_FOR_INDEX_UNBOXED(float, double, rs_unbox_float)

/* A new reference handed to Cython, which then owns it (the item above, pushed
 * for a deoptimisation). */
RS_HOT PyObject *rs_steal(PyObject *v) { return v; }

/* ---- globals read straight into C variables --------------------------------
 * A global whose only use unboxes it (MASK in `(x << 13) & MASK`): while the
 * globals and builtins are unchanged (their version tags, as in
 * rs_load_global_cached) the unboxed value of the last lookup is reused: no
 * reference, no type check, no PyLong conversion (MASK has three digits:
 * PyLong_AsLongLongAndOverflow at every use).  Nonzero: the site
 * deoptimises, and the interpreter loads the global itself (another type,
 * an int beyond 64 bits, or no such global: its NameError). */
static inline int rs_global_cache_fresh(PyObject *globals, PyObject *builtins, RsGlobalCache *c) {
    return c->value != NULL && PyDict_CheckExact(globals) && PyDict_CheckExact(builtins)
        && ((PyDictObject *)globals)->ma_version_tag == c->globals_version
        && ((PyDictObject *)builtins)->ma_version_tag == c->builtins_version;
}

#define RS_GLOBAL_READER(rep, ctype, field, unbox)                                          \
RS_HOT int rs_global_##rep(RsFrame *f, int i, RsGlobalCache *c, ctype *out) {              \
    if (rs_global_cache_fresh(f->frame->f_globals, f->frame->f_builtins, c)) {              \
        *out = c->field;                                                                    \
        return 0;                                                                           \
    }                                                                                       \
    c->value = NULL;                                                                        \
    PyObject *v = rs_load_global_cached(f, i, c);                                           \
    if (v == NULL) { PyErr_Clear(); return 1; }                                             \
    int bad = unbox(v, out);                                                                \
    Py_DECREF(v);                                                                           \
    if (bad) { c->value = NULL; return 1; }                                                 \
    c->field = *out;                                                                        \
    return 0;                                                                               \
}
RS_GLOBAL_READER(int, long long, as_int, rs_unbox_int)
RS_GLOBAL_READER(float, double, as_float, rs_unbox_float)

/* The same in a C version, from the globals of the function it runs for. */
#define RS_PURE_GLOBAL_READER(rep, ctype, field, unbox)                                     \
RS_HOT int rs_pure_global_##rep(PyObject *fn, int i, RsGlobalCache *c, ctype *out) {       \
    PyFunctionObject *func = (PyFunctionObject *)fn;                                        \
    if (rs_global_cache_fresh(func->func_globals, func->func_builtins, c)) {                \
        *out = c->field;                                                                    \
        return 0;                                                                           \
    }                                                                                       \
    c->value = NULL;                                                                        \
    PyObject *v = rs_pure_global(fn, i, c);                                                 \
    if (v == NULL || unbox(v, out)) { c->value = NULL; return 1; }                          \
    c->field = *out;                                                                        \
    return 0;                                                                               \
}

/* ---- int (C long long) ------------------------------------------------------ */
RS_HOT int rs_i_add(long long a, long long b, long long *r) { return __builtin_add_overflow(a, b, r); }
RS_HOT int rs_i_sub(long long a, long long b, long long *r) { return __builtin_sub_overflow(a, b, r); }
RS_HOT int rs_i_mul(long long a, long long b, long long *r) { return __builtin_mul_overflow(a, b, r); }
RS_HOT int rs_i_and(long long a, long long b, long long *r) { *r = a & b; return 0; }
RS_HOT int rs_i_or(long long a, long long b, long long *r) { *r = a | b; return 0; }
RS_HOT int rs_i_xor(long long a, long long b, long long *r) { *r = a ^ b; return 0; }
/* Python's // and % round toward minus infinity (long_divmod) */
/* Division: x86's 64-bit divide takes far longer than its 32-bit one, and
 * most operands are small and not negative, where the two agree with
 * Python's // and % (gcd's loop: 3.3 -> 2.6 ms in C here; gcc does not
 * make this split itself).  Not for a constant divisor, which gcc turns
 * into a multiplication (collatz's n % 2 lost 10% to the test). */
#define RS_SMALL_NONNEGATIVE(a, b) \
    (!__builtin_constant_p(b) && (((unsigned long long)(a) | (unsigned long long)(b)) >> 32) == 0)

RS_HOT int rs_i_floordiv(long long a, long long b, long long *r) {
    if (b == 0 || (a == LLONG_MIN && b == -1)) return 1;
    if (RS_SMALL_NONNEGATIVE(a, b)) { *r = (unsigned)a / (unsigned)b; return 0; }
    long long q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    *r = q;
    return 0;
}
RS_HOT int rs_i_mod(long long a, long long b, long long *r) {
    if (b == 0) return 1;
    if (RS_SMALL_NONNEGATIVE(a, b)) { *r = (unsigned)a % (unsigned)b; return 0; }
    if (b == -1) { *r = 0; return 0; }      /* LLONG_MIN % -1 is undefined in C */
    long long m = a % b;
    if (m != 0 && ((m < 0) != (b < 0))) m += b;
    *r = m;
    return 0;
}
RS_HOT int rs_i_lshift(long long a, long long b, long long *r) {
    if (b < 0) return 1;                     /* ValueError: negative shift count */
    if (a == 0) { *r = 0; return 0; }
    if (b >= 63) return 1;
    return __builtin_mul_overflow(a, 1LL << b, r);
}
/* `(a << b) & m` (xorshift's masking): the shift alone may outgrow 64
   bits, the masked result never does when m >= 0, since m keeps only bits
   below 63 and those are the same in the shift's low 64 bits.  The shift
   keeps its low 64 bits in *r and says in *exact whether that is its whole
   value; the mask then decides (types.fuse_masked_shifts). */
RS_HOT int rs_i_lshift_wrap(long long a, long long b, long long *r, int *exact) {
    if (b < 0) return 1;                     /* ValueError: negative shift count */
    *exact = !rs_i_lshift(a, b, r);
    if (!*exact) *r = b >= 64 ? 0 : (long long)((unsigned long long)a << b);
    return 0;
}
RS_HOT int rs_i_and_wrapped(long long wrapped, int exact, long long m, long long *r) {
    if (!exact && m < 0) return 1;           /* the high bits count: a big int */
    *r = wrapped & m;
    return 0;
}
/* The shift's exact value, as the interpreter would have it on its stack. */
static PyObject *rs_i_lshift_exact(long long a, long long b, long long wrapped, int exact) {
    if (exact) return PyLong_FromLongLong(wrapped);
    PyObject *x = PyLong_FromLongLong(a), *y = x ? PyLong_FromLongLong(b) : NULL;
    PyObject *result = y ? PyNumber_Lshift(x, y) : NULL;
    Py_XDECREF(x);
    Py_XDECREF(y);
    return result;
}
RS_HOT int rs_i_rshift(long long a, long long b, long long *r) {
    if (b < 0) return 1;
    *r = b >= 64 ? (a < 0 ? -1 : 0) : a >> b;   /* gcc: arithmetic shift = floor */
    return 0;
}
static inline int rs_i_pow(long long a, long long b, long long *r) {
    if (b < 0) return 1;                     /* float result */
    long long result = 1, base = a;
    while (b) {
        if ((b & 1) && __builtin_mul_overflow(result, base, &result)) return 1;
        b >>= 1;
        if (b && __builtin_mul_overflow(base, base, &base)) return 1;
    }
    *r = result;
    return 0;
}
#define RS_EXACT_DOUBLE_LIMIT (1LL << 53)
/* int -> double where Python's int/float mixing is exact: |a| <= 2**53 */
RS_HOT int rs_i_exact(long long a, double *r) {
    if (a > RS_EXACT_DOUBLE_LIMIT || a < -RS_EXACT_DOUBLE_LIMIT) return 1;
    *r = (double)a;
    return 0;
}
/* int / int is correctly rounded in Python (long_true_divide); for
 * operands that are exact doubles one IEEE division is too. */
RS_HOT int rs_i_truediv(long long a, long long b, double *r) {
    double x, y;
    if (b == 0 || rs_i_exact(a, &x) || rs_i_exact(b, &y)) return 1;
    *r = x / y;
    return 0;
}
RS_HOT int rs_i_neg(long long a, long long *r) {
    if (a == LLONG_MIN) return 1;
    *r = -a;
    return 0;
}
RS_HOT int rs_i_abs(long long a, long long *r) {
    if (a == LLONG_MIN) return 1;
    *r = a < 0 ? -a : a;
    return 0;
}

/* ---- float (C double), as Objects/floatobject.c --------------------------------- */
RS_HOT int rs_f_truediv(double a, double b, double *r) {
    if (RS_UNLIKELY(b == 0.0)) return 1;
    *r = a / b;
    return 0;
}
/* float_abs: fabs, which also clears the sign of a NaN */
RS_HOT double rs_f_abs(double a) { return fabs(a); }
/* ord(o) of an exact one-character str or bytes; 1 (deoptimise: the
 * interpreter calls ord, which may raise) for anything else */
RS_HOT int rs_ord(PyObject *o, long long *r) {
    if (PyUnicode_CheckExact(o) && PyUnicode_GET_LENGTH(o) == 1) {
        *r = PyUnicode_READ_CHAR(o, 0);
        return 0;
    }
    if (PyBytes_CheckExact(o) && PyBytes_GET_SIZE(o) == 1) {
        *r = (unsigned char)PyBytes_AS_STRING(o)[0];
        return 0;
    }
    return 1;
}
/* float_rem */
RS_HOT int rs_f_mod(double a, double b, double *r) {
    if (b == 0.0) return 1;
    double mod = fmod(a, b);
    if (mod) {
        if ((b < 0) != (mod < 0)) mod += b;
    } else {
        mod = copysign(0.0, b);
    }
    *r = mod;
    return 0;
}
/* float_floor_div (float_divmod's quotient) */
RS_HOT int rs_f_floordiv(double a, double b, double *r) {
    if (b == 0.0) return 1;
    double mod = fmod(a, b);
    double div = (a - mod) / b;
    if (mod && ((b < 0) != (mod < 0))) div -= 1.0;
    double floordiv;
    if (div) {
        floordiv = floor(div);
        if (div - floordiv > 0.5) floordiv += 1.0;
    } else {
        floordiv = copysign(0.0, a / b);
    }
    *r = floordiv;
    return 0;
}
/* x ** 0.5 is float_pow's pow(x, 0.5), a fifth of n-body's time; sqrt is
 * many times cheaper but correctly rounded, and pow is not quite (glibc's,
 * from Arm's optimized-routines: worst case 0.54 ULP; here 0.08% of random
 * x in [0, 100) give another double than sqrt).  So sqrt's result s is
 * taken only where it is certainly pow's too: where the exact residual
 * s*s - x (one fma) puts the true root within 0.4 ULP of s, every other
 * double is more than 0.6 ULP from it, beyond pow's error.  That holds for
 * ~80% of arguments; the rest, and tiny, huge or special ones, call pow.
 * The spacing below s (s minus its predecessor) is the smaller of its two,
 * so the bound is safe at powers of two.  1: *r holds pow(x, 0.5). */
static inline int rs_pow_half_by_sqrt(double x, double *r) {
    if (!(x > 0x1p-900 && x < 0x1p+1000)) return 0;   /* the residual stays exact */
    double s = sqrt(x);
    uint64_t bits;
    memcpy(&bits, &s, sizeof bits);
    bits -= 1;
    double below;
    memcpy(&below, &bits, sizeof below);
    double residual = fma(s, s, -x);          /* (s - root) * (s + root), rounded once */
    if (fabs(residual) < 0.8 * s * (s - below)) { *r = s; return 1; }
    return 0;
}

/* float_pow for finite operands with a real, finite result; the special
 * cases (inf, nan, 0 ** negative, negative ** fraction) go to the interpreter */
static inline int rs_f_pow(double a, double b, double *r) {
    if (b == 0.5 && rs_pow_half_by_sqrt(a, r)) return 0;
    if (!isfinite(a) || !isfinite(b)) return 1;
    if (a == 0.0 && b < 0.0) return 1;
    if (a < 0.0 && b != floor(b)) return 1;
    double x = pow(a, b);
    if (!isfinite(x)) return 1;
    *r = x;
    return 0;
}
/* int(x) for a float: truncation, when the result fits */
RS_HOT int rs_f_to_i(double a, long long *r) {
    if (!(a > -9223372036854775808.0 && a < 9223372036854775808.0)) return 1;   /* also nan */
    *r = (long long)a;
    return 0;
}

/* ---- math functions (Modules/mathmodule.c): finite arguments and results
 * only; everything else (domain errors, overflow, inf, nan) goes back to
 * the interpreter so the exception or special value is CPython's own. */
#define RS_MATH1(name, expr, domain)                                 \
    RS_HOT int rs_m_##name(double x, double *r) {                  \
        if (!isfinite(x) || !(domain)) return 1;                   \
        double y = (expr);                                          \
        if (!isfinite(y)) return 1;                                 \
        *r = y;                                                     \
        return 0;                                                   \
    }
RS_MATH1(sqrt, sqrt(x), x >= 0.0)
RS_MATH1(sin, sin(x), 1)
RS_MATH1(cos, cos(x), 1)
RS_MATH1(tan, tan(x), 1)
RS_MATH1(exp, exp(x), 1)
RS_MATH1(log, log(x), x > 0.0)
RS_MATH1(fabs, fabs(x), 1)
RS_MATH1(atan, atan(x), 1)
RS_HOT int rs_m_atan2(double y, double x, double *r) {
    if (!isfinite(x) || !isfinite(y)) return 1;
    *r = atan2(y, x);
    return 0;
}
RS_HOT int rs_m_floor(double x, long long *r) { return rs_f_to_i(floor(x), r); }
RS_HOT int rs_m_ceil(double x, long long *r) { return rs_f_to_i(ceil(x), r); }

/* ---- guards on known functions ------------------------------------------------
 * `o` must be the function `module.name` as the module defines it (a C
 * function bound to that module, or the type for int/float/range), not just an
 * object of that name: programs may rebind globals, builtins or module
 * attributes at any time.  The last object that passed is cached. */
static int rs_is_known_function(PyObject *o, const char *module, const char *name) {
    if (strcmp(module, "builtins") == 0) {
        if (strcmp(name, "int") == 0) return o == (PyObject *)&PyLong_Type;
        if (strcmp(name, "float") == 0) return o == (PyObject *)&PyFloat_Type;
        if (strcmp(name, "range") == 0) return o == (PyObject *)&PyRange_Type;
    }
    if (!PyCFunction_Check(o)) return 0;
    PyCFunctionObject *fn = (PyCFunctionObject *)o;
    if (strcmp(fn->m_ml->ml_name, name) != 0) return 0;
    PyObject *self = fn->m_self;
    if (self == NULL || !PyModule_Check(self)) return 0;
    const char *modname = PyModule_GetName(self);
    if (modname == NULL) { PyErr_Clear(); return 0; }
    return strcmp(modname, module) == 0;
}
RS_HOT int rs_guard_function(PyObject *o, PyObject **cache, const char *module, const char *name) {
    if (o == *cache) return 0;
    if (!rs_is_known_function(o, module, name)) return 1;
    Py_INCREF(o);
    Py_XSETREF(*cache, o);
    return 0;
}
static inline Py_ssize_t rs_len(PyObject *o) { return PyObject_Size(o); }

/* ---- containers indexed by a C integer ------------------------------------------
 * The slot of c[i] in an exact list or tuple when i is in range (a negative
 * i counts from the end, as in Python), else NULL: the generic path, whose
 * errors (IndexError, TypeError) are CPython's. */
RS_HOT PyObject **rs_item_slot(PyObject *c, long long i) {
    Py_ssize_t n;
    PyObject **items;
    if (PyList_CheckExact(c)) {
        n = PyList_GET_SIZE(c);
        items = ((PyListObject *)c)->ob_item;
    } else if (PyTuple_CheckExact(c)) {
        n = PyTuple_GET_SIZE(c);
        items = ((PyTupleObject *)c)->ob_item;
    } else {
        return NULL;
    }
    if (i < 0) i += n;
    return i >= 0 && i < n ? &items[i] : NULL;
}

/* The byte at i of an exact bytearray or bytes, or -1 (not one, or out
 * of range: the generic path raises). */
RS_HOT int rs_byte_at(PyObject *c, long long i) {
    Py_ssize_t n;
    const char *bytes;
    if (PyByteArray_CheckExact(c)) {
        n = PyByteArray_GET_SIZE(c);
        bytes = PyByteArray_AS_STRING(c);
    } else if (PyBytes_CheckExact(c)) {
        n = PyBytes_GET_SIZE(c);
        bytes = PyBytes_AS_STRING(c);
    } else {
        return -1;
    }
    if (i < 0) i += n;
    return i >= 0 && i < n ? (unsigned char)bytes[i] : -1;
}

RS_HOT PyObject *rs_getitem_i(PyObject *c, long long i) {
    PyObject **slot = rs_item_slot(c, i);
    if (slot != NULL) return Py_NewRef(*slot);
    int byte = rs_byte_at(c, i);
    if (byte >= 0) return PyLong_FromLong(byte);        /* a cached small int */
    PyObject *k = PyLong_FromLongLong(i);
    if (k == NULL) return NULL;
    PyObject *v = PyObject_GetItem(c, k);   /* index as written: errors say so */
    Py_DECREF(k);
    return v;
}

/* bool(c[i]) for a C index i, the item used by nothing but a branch on it
 * (`if flags[n]:`, types.fuse_item_truth): a list's or tuple's item tested
 * where it lies, a byte of bytes or a bytearray compared with 0, no object
 * made.  An item whose truth runs Python code (__bool__, __len__) is held
 * while it does, prev_instr at the branch as in the interpreter.
 * -1: an error (IndexError, ...). */
RS_HOT int rs_item_truth_i(RsFrame *f, int branch, PyObject *c, long long i) {
    PyObject **slot = rs_item_slot(c, i);
    PyObject *v;
    if (slot != NULL) {
        v = *slot;
        if (v == Py_True) return 1;
        if (v == Py_False || v == Py_None) return 0;
        if (PyLong_CheckExact(v)) return Py_SIZE(v) != 0;
        Py_INCREF(v);
    } else {
        int byte = rs_byte_at(c, i);
        if (byte >= 0) return byte != 0;
        v = rs_getitem_i(c, i);
        if (v == NULL) return -1;
    }
    rs_at(f, branch);
    int r = PyObject_IsTrue(v);
    Py_DECREF(v);
    return r;
}

RS_HOT int rs_setitem_i(PyObject *c, long long i, PyObject *v) {
    PyObject **slot = PyList_CheckExact(c) ? rs_item_slot(c, i) : NULL;
    if (slot != NULL) {
        PyObject *old = *slot;
        *slot = Py_NewRef(v);
        Py_DECREF(old);
        return 0;
    }
    if (PyByteArray_CheckExact(c) && PyLong_CheckExact(v)) {
        Py_ssize_t n = PyByteArray_GET_SIZE(c);
        long byte = PyLong_AsLong(v);         /* an int: no error but overflow (-1) */
        long long at = i < 0 ? i + n : i;
        if (byte >= 0 && byte < 256 && at >= 0 && at < n) {
            PyByteArray_AS_STRING(c)[at] = (char)byte;
            return 0;
        }
        if (byte == -1 && PyErr_Occurred()) PyErr_Clear();   /* the generic path says it */
    }
    PyObject *k = PyLong_FromLongLong(i);
    if (k == NULL) return -1;
    int r = PyObject_SetItem(c, k, v);
    Py_DECREF(k);
    return r;
}

/* list[i] = <double>: when the float there is referenced by the list alone,
 * nothing else can see it, so its value is replaced in place (no new box);
 * CPython's own in-place string concatenation relies on the same fact. */
RS_HOT int rs_setitem_float_i(PyObject *c, long long i, double v) {
    PyObject **slot = PyList_CheckExact(c) ? rs_item_slot(c, i) : NULL;
    if (slot != NULL && PyFloat_CheckExact(*slot) && Py_REFCNT(*slot) == 1) {
        ((PyFloatObject *)*slot)->ob_fval = v;
        return 0;
    }
    PyObject *box = PyFloat_FromDouble(v);
    if (box == NULL) return -1;
    int r = rs_setitem_i(c, i, box);
    Py_DECREF(box);
    return r;
}

/* container[i] read straight into a C variable: 1 (deoptimise at the
 * subscript) unless an exact list or tuple holds an exact float / int
 * there (or, for an int, an exact bytearray or bytes has a byte there) */
RS_HOT int rs_item_float_i(PyObject *c, long long i, double *r) {
    PyObject **slot = rs_item_slot(c, i);
    return slot == NULL || rs_unbox_float(*slot, r);
}
RS_HOT int rs_item_int_i(PyObject *c, long long i, long long *r) {
    PyObject **slot = rs_item_slot(c, i);
    if (slot != NULL) return rs_unbox_int(*slot, r);
    int byte = rs_byte_at(c, i);
    *r = byte;
    return byte < 0;
}

/* ---- borrowed values ---------------------------------------------------------
 * A local or constant read for one nearby use needs no reference of its
 * own: the frame (or the code object) keeps it alive until the local is
 * stored again, which the emitter checks.  NULL: the local is unbound. */
RS_HOT PyObject *rs_local_b(RsFrame *f, int i) { return f->locals[i]; }
RS_HOT PyObject *rs_const_b(RsFrame *f, int i) { return PyTuple_GET_ITEM(f->consts, i); }
RS_HOT PyObject *rs_null_b(void) { return RS_NULL; }

/* ---- for i in range(...) ----------------------------------------------------------
 * 3.11's range iterator (Objects/rangeobject.c, not in any header); ranges
 * beyond C long use another type (longrangeiter), which deoptimises.
 * Returns 1 with the next item, 0 when exhausted, -1: not a range iterator. */
typedef struct {
    PyObject_HEAD
    long index;
    long start;
    long step;
    long len;
} rs_rangeiterobject_311;

/* range(stop) or range(start, stop) of C integers whose one use is the
 * loop's GET_ITER (emit.ModuleEmitter.makes_range_iterator): when `range` is
 * the builtin, the call makes the iterator at once, as range_iter's fast
 * form would for bounds whose length fits a C long, without the range
 * object, the PyLong bounds and the length worked out with PyLongs (~10%
 * of n-body, whose inner loop is a new range per body).  GET_ITER of a
 * range iterator is the iterator itself, so an interpreter resumed between
 * the two (a deoptimisation) sees the same items.  The iterator left by an
 * earlier loop is reused when nothing else holds it (rs_keep_spare_iter).
 * Anything else bound to `range`: called with the boxed bounds, as the
 * interpreter calls it. */
static inline PyObject *rs_range_iter(PyObject *first, PyObject *callable, long long start,
                                      long long stop, int nargs) {
    unsigned long long len = stop > start ? (unsigned long long)stop - (unsigned long long)start : 0;
    if (first == RS_NULL && callable == (PyObject *)&PyRange_Type && len <= LONG_MAX) {
        rs_rangeiterobject_311 *r = (rs_rangeiterobject_311 *)rs_spare_range_iter;
        rs_spare_range_iter = NULL;
        if (r == NULL) {
            r = PyObject_New(rs_rangeiterobject_311, &PyRangeIter_Type);
            if (r == NULL) return NULL;
        }
        r->index = 0;
        r->start = (long)start;
        r->step = 1;
        r->len = (long)len;
        return (PyObject *)r;
    }
    PyObject *bounds[2] = {PyLong_FromLongLong(start), PyLong_FromLongLong(stop)};
    PyObject *result = NULL;
    if (bounds[0] != NULL && bounds[1] != NULL)
        result = nargs == 1 ? rs_call1(first, callable, bounds[1]) : rs_call2(first, callable, bounds[0], bounds[1]);
    Py_XDECREF(bounds[0]);
    Py_XDECREF(bounds[1]);
    return result;
}

RS_HOT int rs_for_iter_range(PyObject *it, long long *item) {
    if (Py_TYPE(it) != &PyRangeIter_Type) return -1;
    rs_rangeiterobject_311 *r = (rs_rangeiterobject_311 *)it;
    if (r->index < r->len) {
        *item = (long)(r->start + (unsigned long)(r->index++) * r->step);
        return 1;
    }
    return 0;
}

/* A range loop as two C variables (emit.ModuleEmitter.c_loops): where the
 * callable is the builtin range, range(start, stop) of C integers is
 * *cur = start, *stop = stop and the NULL marker stands where the iterator
 * would be; no object at all.  Anything else bound to `range` is called as
 * the interpreter calls it, and its iterator runs the loop.  Only a
 * deoptimisation makes the range iterator the interpreter would have held
 * (rs_range_iter_at). */
static inline PyObject *rs_range_c(PyObject *first, PyObject *callable, long long start, long long stop,
                                   int nargs, long long *cur, long long *end) {
    if (first == RS_NULL && callable == (PyObject *)&PyRange_Type) {
        *cur = start;
        *end = stop;
        return rs_null();
    }
    return rs_range_iter(first, callable, start, stop, nargs);
}

/* GET_ITER of the above: the marker stays (its variables are copied by
 * the compiled code), anything else is asked for its iterator */
static inline PyObject *rs_get_iter_range(PyObject *v) {
    if (v == RS_NULL) return rs_null();
    return rs_get_iter(v);
}

/* FOR_ITER: 1 the next value in *item, 0 exhausted, -1 not a range
 * iterator (the compiled code deoptimises) */
RS_HOT int rs_for_range(PyObject *it, long long *cur, long long stop, long long *item) {
    if (RS_LIKELY(it == RS_NULL)) {
        if (RS_UNLIKELY(*cur >= stop)) return 0;
        *item = (*cur)++;
        return 1;
    }
    return rs_for_iter_range(it, item);
}

/* The iterator the interpreter would hold: the rest of the range (a new
 * reference) */
static PyObject *rs_range_iter_at(PyObject *it, long long cur, long long stop) {
    if (it != RS_NULL) return Py_NewRef(it);
    PyObject *made = rs_range_iter(RS_NULL, (PyObject *)&PyRange_Type, cur, stop, 2);
    if (made == NULL || Py_TYPE(made) == &PyRangeIter_Type) return made;
    PyObject *iterator = PyObject_GetIter(made);     /* beyond C long: range()'s own long iterator */
    Py_DECREF(made);
    return iterator;
}

/* ---- the eval breaker: loop back-edges and function entry ----------------
 * The interpreter polls interp->ceval.eval_breaker on its back-edges
 * (JUMP_BACKWARD, POP_JUMP_BACKWARD_IF_*) and at RESUME, and when it is set
 * runs eval_frame_handle_pending: signal handlers, pending calls, handing
 * the GIL to a thread that asked for it, asynchronous exceptions.  Compiled
 * code polls at the same places (restrain/ir.py), or Ctrl-C would go
 * unnoticed and other threads starve: nothing else in it releases the GIL.
 * The poll is one relaxed load; everything else is out of line.
 *
 * 3.11-specific: the field paths below (interp->ceval.eval_breaker,
 * .gil_drop_request, .pending, interp->runtime->ceval.signals_pending) and
 * rs_compute_eval_breaker, a copy of ceval.c's COMPUTE_EVAL_BREAKER.  Later
 * versions change these (3.12 adds inputs to the breaker, 3.13 moves it to
 * the thread state), so a port starts here. */

/* ceval.c's COMPUTE_EVAL_BREAKER (static there), 3.11 */
static inline void rs_compute_eval_breaker(PyInterpreterState *interp) {
    struct _ceval_runtime_state *ceval = &interp->runtime->ceval;
    struct _ceval_state *ceval2 = &interp->ceval;
    _Py_atomic_store_relaxed(&ceval2->eval_breaker,
        _Py_atomic_load_relaxed(&ceval2->gil_drop_request)
        | (_Py_atomic_load_relaxed(&ceval->signals_pending)
           && _Py_ThreadCanHandleSignals(interp))
        | (_Py_atomic_load_relaxed(&ceval2->pending.calls_to_do)
           && _Py_ThreadCanHandlePendingCalls())
        | ceval2->pending.async_exc);
}

/* ceval.c's eval_frame_handle_pending (3.11), through what is exported,
 * less its MS_WINDOWS-only tail.  Out of line: loops stay small. */
static __attribute__((noinline, cold, unused)) int rs_handle_pending(RsFrame *f, int index) {
    PyThreadState *tstate = f->tstate;
    struct _ceval_state *ceval2 = &tstate->interp->ceval;
    /* A handler may raise (the traceback names the loop's line) or look at
     * its frame argument, and other threads may look at this frame while
     * the GIL is released: all must see the instruction that polled. */
    rs_at(f, index);
    /* Py_MakePendingCalls is ceval.c's handle_signals (which also clears
     * signals_pending) followed by make_pending_calls; both do nothing off
     * the main thread, as in the interpreter. */
    if (_Py_atomic_load_relaxed(&tstate->interp->runtime->ceval.signals_pending) ||
        _Py_atomic_load_relaxed(&ceval2->pending.calls_to_do)) {
        if (Py_MakePendingCalls() < 0) return -1;
    }
    /* drop_gil/take_gil are static in ceval.c; these two wrap exactly
     * them, with the same thread-state swaps as the interpreter's. */
    if (_Py_atomic_load_relaxed(&ceval2->gil_drop_request)) {
        PyEval_RestoreThread(PyEval_SaveThread());
    }
    /* PyThreadState_SetAsyncExc (e.g. from a debugger or a test runner's
     * timeout) */
    if (tstate->async_exc != NULL) {
        PyObject *exc = tstate->async_exc;
        tstate->async_exc = NULL;
        ceval2->pending.async_exc = 0;     /* ceval.c's UNSIGNAL_ASYNC_EXC */
        rs_compute_eval_breaker(tstate->interp);
        PyErr_SetNone(exc);
        Py_DECREF(exc);
        return -1;
    }
    return 0;
}

/* `index`: the polling instruction's.  -1: an exception is set (a signal
 * handler raised, KeyboardInterrupt, an asynchronous exception). */
RS_HOT int rs_check_signals(RsFrame *f, int index) {
    if (__builtin_expect(_Py_atomic_load_relaxed(f->eval_breaker), 0))
        return rs_handle_pending(f, index);
    return 0;
}

/* 3.11's CALL polls too, after calling anything but a Python function that
 * it runs inline (ceval.c: CHECK_EVAL_BREAKER at the end of CALL, of the
 * PRECALL_BUILTIN_* and *METHOD_DESCRIPTOR* forms, of CALL_FUNCTION_EX): a
 * signal that came during a C call (lock.acquire(), a C extension's long
 * computation) is handled right after it, at the call's instruction.
 * Waiting for the next back-edge or RESUME instead moved threading's
 * KeyboardInterrupt from Condition.wait's `try` into its `finally`, which
 * then released a lock it did not hold.  `first`, `second`: as for
 * rs_call_array (the callable is `first` unless that is the NULL marker). */
static inline int rs_runs_inline(PyObject *callable) {
    if (PyMethod_Check(callable)) callable = PyMethod_GET_FUNCTION(callable);  /* PRECALL_BOUND_METHOD */
    if (!PyFunction_Check(callable)) return 0;
    int flags = ((PyCodeObject *)PyFunction_GET_CODE(callable))->co_flags;
    return !(flags & (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR));
}

RS_HOT int rs_poll_after_call(RsFrame *f, int index, PyObject *first, PyObject *second) {
    if (__builtin_expect(_Py_atomic_load_relaxed(f->eval_breaker), 0)) {
        if (!rs_runs_inline(first == RS_NULL ? second : first))
            return rs_handle_pending(f, index);
    }
    return 0;
}

/* ---- pure typed recursion ---------------------------------------------------
 * A function whose body is typed arithmetic on C-typed arguments and calls
 * of itself by its global name (fib) also gets a plain C version, which
 * calls itself with C values and no frames (emit.PureEmitter).  It has no
 * side effects, so whenever it cannot go on -- an integer overflows, a
 * signal or a pending call waits (the eval breaker), the recursion reaches
 * the limit the interpreter would enforce -- it gives up and the call runs
 * again from its start on the compiled code with frames, which then does
 * exactly what the interpreter does (big integers, RecursionError,
 * KeyboardInterrupt).  RS_PURE_MAX_DEPTH bounds the C stack it may use. */
#define RS_PURE_MAX_DEPTH 5000
#define RS_PURE_FRAME_BYTES 512     /* a generous bound on one level's C stack */

/* How many nested calls a C version may make from here: as many as the
 * interpreter would allow frames before RecursionError, and no more than
 * the thread's C stack holds (0: none). */
static uint64_t rs_stack_limit_owner = 0;    /* hook.c's current_stack_limit, per module */
static uintptr_t rs_stack_limit = 1;

static inline int rs_pure_depth(PyThreadState *tstate) {
    int depth = tstate->recursion_remaining;
    if (depth > RS_PURE_MAX_DEPTH) depth = RS_PURE_MAX_DEPTH;
    char here;
    if (RS_UNLIKELY(tstate->id != rs_stack_limit_owner)) {     /* another thread since the last call here */
        rs_stack_limit = rs_api->stack_limit();
        rs_stack_limit_owner = tstate->id;
    }
    uintptr_t limit = rs_stack_limit;
    if (depth <= 0 || limit <= 1 || (uintptr_t)&here <= limit) return 0;
    uintptr_t fits = ((uintptr_t)&here - limit) / RS_PURE_FRAME_BYTES;
    return fits < (uintptr_t)depth ? (int)fits : depth;
}

/* How deep the C version may recurse from this frame (0: not at all): the
 * global it calls itself by must be the running function (then, with no
 * Python code running meanwhile, it stays so), and each of its calls
 * stands for a frame the interpreter would count against the limit. */
RS_HOT int rs_pure_budget(RsFrame *f, int name_index, RsGlobalCache *c) {
    PyObject *v = rs_load_global_cached(f, name_index, c);
    if (v == NULL) {          /* the frame-full code raises it where it should */
        PyErr_Clear();
        return 0;
    }
    int running = v == (PyObject *)f->frame->f_func;
    Py_DECREF(v);
    if (!running || rs_api == NULL) return 0;
    return rs_pure_depth(f->tstate);
}

/* A global a C version reads (a constant such as MASK, a builtin such as
 * abs), borrowed, from the globals and builtins of `fn`, the function it
 * runs for; NULL (no exception) if there is none: the C version gives up,
 * and the frame-full code raises the NameError. */
RS_HOT PyObject *rs_pure_global(PyObject *fn, int i, RsGlobalCache *c) {
    PyFunctionObject *func = (PyFunctionObject *)fn;
    PyObject *globals = func->func_globals, *builtins = func->func_builtins;
    if (!PyDict_CheckExact(globals) || !PyDict_CheckExact(builtins)) return NULL;
    if (c->value != NULL && ((PyDictObject *)globals)->ma_version_tag == c->globals_version
            && ((PyDictObject *)builtins)->ma_version_tag == c->builtins_version) {
        return c->value;
    }
    PyObject *name = PyTuple_GET_ITEM(((PyCodeObject *)func->func_code)->co_names, i);
    PyObject *v = PyDict_GetItemWithError(globals, name);
    if (v == NULL && !PyErr_Occurred()) v = PyDict_GetItemWithError(builtins, name);
    if (v == NULL) {
        PyErr_Clear();
        return NULL;
    }
    c->value = v;
    c->globals_version = ((PyDictObject *)globals)->ma_version_tag;
    c->builtins_version = ((PyDictObject *)builtins)->ma_version_tag;
    return v;
}

RS_PURE_GLOBAL_READER(int, long long, as_int, rs_unbox_int)
RS_PURE_GLOBAL_READER(float, double, as_float, rs_unbox_float)

/* The function object a compiled frame runs (borrowed). */
static inline PyObject *rs_frame_function(RsFrame *f) {
    return (PyObject *)f->frame->f_func;
}

/* The C version's poll, where the interpreter polls (function entry, loop
 * back-edges): a thread waiting for the GIL gets it, as the interpreter
 * hands it over, and the C version goes on (restrain's own sampling thread
 * asks every 10-30 ms: giving up there would soon disable every C version
 * with a loop); anything else (a signal, a pending call, an asynchronous
 * exception) needs a frame: 1, give up. */
static __attribute__((noinline, cold)) int rs_pure_pending(PyInterpreterState *interp) {
    struct _ceval_state *ceval2 = &interp->ceval;
    if (_Py_atomic_load_relaxed(&ceval2->gil_drop_request)) {
        PyEval_RestoreThread(PyEval_SaveThread());
    }
    return _Py_atomic_load_relaxed(&interp->runtime->ceval.signals_pending)
        || _Py_atomic_load_relaxed(&ceval2->pending.calls_to_do)
        || ceval2->pending.async_exc;
}

RS_HOT int rs_pure_interrupted(void) {
    PyInterpreterState *interp = _PyInterpreterState_GET();
    if (__builtin_expect(_Py_atomic_load_relaxed(&interp->ceval.eval_breaker), 0))
        return rs_pure_pending(interp);
    return 0;
}

/* A C version's loop over a list or tuple argument (`for c in coeffs`):
 * no Python code runs in a C version, and one that loops over a sequence
 * does not hand the GIL to another thread either (emit.PureEmitter.poll_test:
 * rs_pure_breaker, it gives up instead), so nothing can change the
 * sequence meanwhile: its item array and size are read once, here.  1:
 * neither an exact list nor a tuple (the C version gives up). */
RS_HOT int rs_seq_items(PyObject *seq, PyObject ***items, long long *size) {
    if (PyList_CheckExact(seq)) {
        *items = ((PyListObject *)seq)->ob_item;
        *size = PyList_GET_SIZE(seq);
        return 0;
    }
    if (PyTuple_CheckExact(seq)) {
        *items = ((PyTupleObject *)seq)->ob_item;
        *size = PyTuple_GET_SIZE(seq);
        return 0;
    }
    return 1;
}

/* Whether the eval breaker asks for anything at all (rs_seq_items; the
 * back-edges of frameless versions, which hold borrowed references they
 * cannot keep across a GIL handover) */
RS_HOT int rs_pure_breaker(void) {
    return __builtin_expect(_Py_atomic_load_relaxed(&_PyInterpreterState_GET()->ceval.eval_breaker), 0);
}

/* ---- calls of pure functions from other compiled functions ----------------
 * A compiled function that calls, by global name, a function whose C version
 * is in the same module (emit.PureCallee: built together, restrain's
 * batches bring small callees along with their callers) calls that version
 * with C values: no frame, no boxing of the arguments, no entry.  Only when
 * the global is a plain function running the very code the C version was
 * made from: its content digest is compared once per code object met (a
 * rebound global, a replaced __code__, a function of the same name from
 * another module all fail it, and the call takes the generic path). */
typedef struct {
    PyObject *code;         /* the last code object that matched */
    PyObject *rejected;     /* the last one that did not */
} RsPureCallee;

static int rs_pure_callee_check(PyObject *code, RsPureCallee *c, const char *fingerprint) {
    int same = rs_api->code_matches(code, fingerprint);
    if (same < 0) return -1;
    Py_INCREF(code);
    Py_XSETREF(*(same ? &c->code : &c->rejected), code);
    return same;
}

/* The default of positional parameter k of a function whose code has
 * `argcount` positional parameters, as the call without that argument
 * would take it (borrowed); None when there is none, which no C argument
 * takes: the ordinary call then raises the interpreter's TypeError. */
RS_HOT PyObject *rs_default_arg(PyObject *callable, int k, int argcount) {
    /* a compiled callee outside an evaluator window has the swapped type:
     * PyFunction_Check (exact) would miss it, and every call took the
     * ordinary path */
    PyTypeObject *type = Py_TYPE(callable);
    if (type != &PyFunction_Type && (rs_api == NULL || type != rs_api->swapped_type)) return Py_None;
    PyObject *defaults = ((PyFunctionObject *)callable)->func_defaults;
    Py_ssize_t first = defaults == NULL ? argcount : argcount - PyTuple_GET_SIZE(defaults);
    if (k < first || first < 0) return Py_None;
    return PyTuple_GET_ITEM(defaults, k - first);
}

/* The frames a C version called from a compiled frame may use
 * (rs_pure_depth), worked out once per call of the compiled function and
 * kept in two of its C variables: at every call site of its body the C
 * stack is as deep, and so is the recursion until something changes the
 * recursion limit (sys.setrecursionlimit, or _Py_CheckRecursiveCall
 * raising the thread's to the interpreter's), which moves
 * recursion_remaining with it. */
RS_HOT int rs_frame_pure_depth(RsFrame *f, int *depth, int *limit) {
    int now = f->tstate->recursion_limit;
    if (RS_UNLIKELY(*depth < 0 || *limit != now)) {
        *depth = rs_pure_depth(f->tstate);
        *limit = now;
    }
    return *depth;
}

/* How many frames the interpreter would allow the call (it takes one, the
 * C version's own calls take the rest): 0 means take the generic path;
 * -1 with an exception set for an interruption during the first check. */
RS_HOT int rs_pure_call_budget(RsFrame *f, PyObject *callable, RsPureCallee *c, const char *fingerprint,
                               int *frame_depth, int *frame_limit) {
    if (rs_api == NULL) return 0;
    PyTypeObject *type = Py_TYPE(callable);
    if (RS_UNLIKELY(type != &PyFunction_Type && type != rs_api->swapped_type)) return 0;
    PyObject *code = ((PyFunctionObject *)callable)->func_code;
    if (RS_UNLIKELY(code != c->code)) {
        if (code == c->rejected) return 0;
        int same = rs_pure_callee_check(code, c, fingerprint);
        if (same <= 0) return same;
    }
    if (RS_UNLIKELY(f->tstate->cframe->use_tracing)) return 0;     /* the profiler sees the call */
    return rs_frame_pure_depth(f, frame_depth, frame_limit);
}

/* A call of any callable with C arguments, whose result is taken as a C
 * value (emit.dynamic_call: integrate(f, ...) calling f(x)): the C
 * version of the function it turns out to be, if that has one of this
 * signature, else NULL (the ordinary call).  *depth: the frames the C
 * version may use (rs_pure_depth); site: the call site's memory. */
typedef struct {
    PyObject *code;         /* a strong reference: its address cannot be reused */
    void *version;          /* code's C version of the site's signature */
} RsDynamicSite;

RS_HOT void *rs_dynamic_pure(RsFrame *f, PyObject *callable, const char *signature, int *depth,
                               RsDynamicSite *site, int *frame_depth, int *frame_limit) {
    if (rs_api == NULL) return NULL;
    PyTypeObject *type = Py_TYPE(callable);
    if (type != &PyFunction_Type && type != rs_api->swapped_type) return NULL;
    /* The site remembers the last code it found a C version for (integrate
     * calls the same f 640,000 times): a C version stays valid for its
     * code, even once a newer one replaces it (its module stays loaded,
     * and it computes what the code does or gives up). */
    PyObject *code = ((PyFunctionObject *)callable)->func_code;
    void *version = site->version;
    if (RS_UNLIKELY(code != site->code)) {
        version = rs_api->pure_version(code, signature);
        if (version == NULL) return NULL;
        Py_INCREF(code);
        Py_XSETREF(site->code, code);
        site->version = version;
    }
    if (RS_UNLIKELY(f->tstate->cframe->use_tracing)) return NULL;     /* the profiler sees the call */
    *depth = rs_frame_pure_depth(f, frame_depth, frame_limit);
    return *depth > 0 ? version : NULL;
}

/* ---- frameless versions (frameless.py) ----------------------------------
 * A small getter's C version called without a frame (hook.c call_function
 * tries it first): it reads through borrowed references only and runs no
 * Python code, so each helper here either takes a fast path that cannot
 * run any or returns NULL (-1) with no exception set, and the call then
 * runs normally, with a frame, from the start. */
typedef PyObject *(*RsFrameless)(PyObject *fn, PyObject *const *args);

static inline PyObject *rs_fl_name(PyObject *fn, int i) {
    return PyTuple_GET_ITEM(((PyCodeObject *)((PyFunctionObject *)fn)->func_code)->co_names, i);
}

static inline PyObject *rs_fl_const(PyObject *fn, int i) {
    return PyTuple_GET_ITEM(((PyCodeObject *)((PyFunctionObject *)fn)->func_code)->co_consts, i);
}

static inline int rs_fl_is_number(PyObject *v) {
    return Py_IS_TYPE(v, &PyLong_Type) || Py_IS_TYPE(v, &PyFloat_Type);
}

static inline PyObject *rs_fl_none(void) { return Py_None; }
static inline PyObject *rs_fl_bool(int b) { return b ? Py_True : Py_False; }

static inline PyObject *rs_fl_is(PyObject *a, PyObject *b, int invert) {
    return rs_fl_bool((a == b) != invert);
}

/* An instance attribute at its cached place, or a module attribute: the
 * site is filled here (rs_fill_attr_cache looks at the type only, and
 * runs no Python code) until it stops filling; NULL for anything else
 * (the attribute unset, a class, a property, __getattr__). */
RS_HOT PyObject *rs_fl_load_attr(PyObject *owner, PyObject *name, RsAttrCache *c) {
    Py_ssize_t values_index;
    for (int attempt = 0; attempt < 2; attempt++) {
        PyObject **place = rs_attr_place(owner, c, &values_index);
        if (place != NULL) return *place;
        PyObject *in_dict = rs_dict_attr(owner, name, c);
        if (in_dict != NULL) return in_dict;
        PyObject *v = rs_cached_module_attr(owner, name, c, RS_ATTR_MODULE);
        if (v != NULL || attempt == 1 || c->fills >= RS_CACHE_MAX_FILLS) return v;
        c->fills++;        /* a site that cannot be filled stops trying, too */
        rs_fill_attr_cache(owner, name, c, 0);
    }
    return NULL;
}

/* Truth without running Python code: the built-in types whose truth is a
 * field, and instances of classes without __bool__ and __len__ (always
 * true); -1 for anything else. */
RS_HOT int rs_fl_truth(PyObject *v) {
    if (v == Py_True) return 1;
    if (v == Py_False || v == Py_None) return 0;
    PyTypeObject *tp = Py_TYPE(v);
    if (tp == &PyLong_Type) return Py_SIZE(v) != 0;
    if (tp == &PyFloat_Type) return PyFloat_AS_DOUBLE(v) != 0.0;
    if (tp == &PyUnicode_Type) return PyUnicode_GET_LENGTH(v) != 0;
    if (tp == &PyList_Type || tp == &PyTuple_Type) return Py_SIZE(v) != 0;
    if (tp == &PyDict_Type) return PyDict_GET_SIZE(v) != 0;
    if ((tp->tp_as_number == NULL || tp->tp_as_number->nb_bool == NULL)
            && (tp->tp_as_mapping == NULL || tp->tp_as_mapping->mp_length == NULL)
            && (tp->tp_as_sequence == NULL || tp->tp_as_sequence->sq_length == NULL))
        return 1;           /* PyObject_IsTrue's last case */
    return -1;
}

/* c[k] of an exact list or tuple and an exact int in range, or of an
 * exact dict whose keys are all str (a lookup compares no other objects)
 * and an exact str key it holds (borrowed); else NULL. */
RS_HOT PyObject *rs_fl_getitem(PyObject *c, PyObject *k) {
    PyTypeObject *tp = Py_TYPE(c);
    if ((tp == &PyList_Type || tp == &PyTuple_Type) && PyLong_CheckExact(k)) {
        Py_ssize_t i = PyLong_AsSsize_t(k);
        if (i == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            return NULL;
        }
        Py_ssize_t n = Py_SIZE(c);
        if (i < 0) i += n;
        if (i < 0 || i >= n) return NULL;
        return tp == &PyList_Type ? PyList_GET_ITEM(c, i) : PyTuple_GET_ITEM(c, i);
    }
    if (tp == &PyDict_Type && PyUnicode_CheckExact(k) && DK_IS_UNICODE(((PyDictObject *)c)->ma_keys)) {
        PyObject *v = PyDict_GetItemWithError(c, k);
        if (v == NULL) PyErr_Clear();
        return v;
    }
    return NULL;
}

/* A comparison of two exact ints or floats (any mix), or == and != of two
 * exact strs: the result, True or False (borrowed: never freed); else NULL. */
RS_HOT PyObject *rs_fl_compare(PyObject *a, PyObject *b, int op) {
    int numbers = rs_fl_is_number(a) && rs_fl_is_number(b);
    int strings = PyUnicode_CheckExact(a) && PyUnicode_CheckExact(b) && (op == Py_EQ || op == Py_NE);
    if (!numbers && !strings) return NULL;
    PyObject *r = PyObject_RichCompare(a, b, op);
    if (r == NULL) {
        PyErr_Clear();
        return NULL;
    }
    Py_DECREF(r);
    return r;
}

/* `for x in xs` over an exact list or tuple, frameless: instead of an
 * iterator object (an allocation), a C struct of the body, passed around
 * where the iterator would be.  Nothing a frameless version does can
 * change the list meanwhile (no list method, no item stores), and what
 * it stores into attributes keeps the old values alive (RsFlTx), so the
 * list and its items stay valid; the size is read at every step all the
 * same, as listiter_next does.  NULL from rs_fl_iter: give up (another
 * iterable); from rs_fl_next: no item left. */
typedef struct {
    PyObject *seq;          /* borrowed */
    Py_ssize_t next;
} RsFlIter;

static inline PyObject *rs_fl_iter(RsFlIter *it, PyObject *seq) {
    if (!PyList_CheckExact(seq) && !PyTuple_CheckExact(seq)) return NULL;
    it->seq = seq;
    it->next = 0;
    return (PyObject *)it;
}

static inline PyObject *rs_fl_next(PyObject *iterator) {
    RsFlIter *it = (RsFlIter *)iterator;
    PyObject *seq = it->seq;
    if (PyList_CheckExact(seq))
        return it->next < PyList_GET_SIZE(seq) ? PyList_GET_ITEM(seq, it->next++) : NULL;
    return it->next < PyTuple_GET_SIZE(seq) ? PyTuple_GET_ITEM(seq, it->next++) : NULL;
}

/* `a, b = seq` of an exact tuple or list of n items (rs_is_exact_seq, for
 * a borrowed pointer); the items: rs_fl_item */
static inline int rs_fl_unpackable(PyObject *seq, Py_ssize_t n) {
    return rs_is_exact_seq(seq, (int)n);
}

/* Stores.  A frameless version that stores attributes does it as a small
 * transaction: each store into a cached place (an inline value or a slot,
 * set or not yet) is logged with the value it replaced, whose
 * reference the log keeps, so that nothing is freed and every borrowed
 * reference stays valid meanwhile; giving up puts every old value back
 * (rs_fl_abort), exactly as it was.  Returning (rs_fl_commit) drops the
 * old values, unless that would free one that is not an int, float or
 * str (its __del__ or a weakref callback would run without the frame):
 * then it gives up all the same.  Numbers it computes (rs_fl_binary) are
 * owned by the transaction and dropped at its end (an int or a float runs
 * no code when freed). */
#define RS_FL_STORES 32
#define RS_FL_OWNED 128
#define RS_FL_LIST_OPS 32
/* how deep frameless versions may call one another (rs_fl_call) */
#define RS_FL_DEPTH 12
typedef struct {
    int nstores, nowned;
    int depth;              /* how many more nested calls it may make (rs_fl_call) */
    PyObject **place[RS_FL_STORES];
    PyObject *old[RS_FL_STORES];        /* NULL: the store added the attribute */
    PyDictValues *added[RS_FL_STORES];  /* an inline value added: its insertion order grew */
    PyObject *owned[RS_FL_OWNED];
    /* list.append and list.pop, in order (rs_fl_list_append, rs_fl_list_pop) */
    int nlist;
    PyObject *list[RS_FL_LIST_OPS];     /* the list (alive: borrowed from the state or owned) */
    PyObject *popped[RS_FL_LIST_OPS];   /* NULL: an append; else the item popped, its reference the log's */
} RsFlTx;

/* A transaction for a frameless version called with a frame's worth of
 * recursion left (hook.c checks recursion_remaining > 0): each nested
 * call would take one more frame, so it may nest as deep as the
 * interpreter would let the calls with frames go (and RS_FL_DEPTH, for
 * the C stack) without raising RecursionError. */
static inline void rs_fl_begin(RsFlTx *tx) {
    int left = _PyThreadState_GET()->recursion_remaining - 1;
    tx->nstores = 0;
    tx->nowned = 0;
    tx->nlist = 0;
    tx->depth = left < RS_FL_DEPTH ? left : RS_FL_DEPTH;
}

static __attribute__((noinline)) PyObject *rs_fl_abort(RsFlTx *tx) {
    for (int k = tx->nstores - 1; k >= 0; k--) {
        PyObject *stored = *tx->place[k];
        *tx->place[k] = tx->old[k];
        Py_DECREF(stored);      /* the store's own reference: it lives on elsewhere, or is owned */
        /* the last one added to the insertion order (_PyDictValues_AddToInsertionOrder) */
        if (tx->added[k] != NULL) ((uint8_t *)tx->added[k])[-2]--;
    }
    /* the lists as they were: an append taken back (the list's reference
     * to the item: it lives on where it was borrowed from), a pop put back
     * (the log's reference returns to the list; rs_fl_list_pop did not
     * shrink the list's memory) */
    for (int k = tx->nlist - 1; k >= 0; k--) {
        PyListObject *list = (PyListObject *)tx->list[k];
        Py_ssize_t n = Py_SIZE(list);
        if (tx->popped[k] == NULL) {
            Py_SET_SIZE(list, n - 1);
            Py_DECREF(list->ob_item[n - 1]);
        } else {
            list->ob_item[n] = tx->popped[k];
            Py_SET_SIZE(list, n + 1);
        }
    }
    for (int k = 0; k < tx->nowned; k++) Py_DECREF(tx->owned[k]);
    tx->nstores = tx->nowned = tx->nlist = 0;
    return NULL;
}

/* How many references to v the log holds (old values, popped items) */
static int rs_fl_log_refs(RsFlTx *tx, PyObject *v) {
    int held = 0;
    for (int j = 0; j < tx->nstores; j++) held += tx->old[j] == v;
    for (int j = 0; j < tx->nlist; j++) held += tx->popped[j] == v;
    return held;
}

/* Whether dropping the log's references to v would free it, and v could
 * run code when freed (not an int, float or str) */
static inline int rs_fl_would_free(RsFlTx *tx, PyObject *v) {
    return v != NULL && !rs_fl_is_number(v) && !PyUnicode_CheckExact(v) && Py_REFCNT(v) <= rs_fl_log_refs(tx, v);
}

RS_HOT PyObject *rs_fl_commit(RsFlTx *tx, PyObject *result) {
    Py_INCREF(result);
    for (int k = 0; k < tx->nstores + tx->nlist; k++) {
        if (rs_fl_would_free(tx, k < tx->nstores ? tx->old[k] : tx->popped[k - tx->nstores])) {
            Py_DECREF(result);      /* still alive: it is stored, owned or borrowed from the state */
            return rs_fl_abort(tx);
        }
    }
    for (int k = 0; k < tx->nstores; k++) Py_XDECREF(tx->old[k]);
    for (int k = 0; k < tx->nlist; k++) Py_XDECREF(tx->popped[k]);
    for (int k = 0; k < tx->nowned; k++) Py_DECREF(tx->owned[k]);
    return result;
}

/* owner.name = v at the site's cached place; -1 (nothing done): give up */
RS_HOT int rs_fl_store_attr(RsFlTx *tx, PyObject *owner, PyObject *name, PyObject *v, RsAttrCache *c) {
    if (tx->nstores == RS_FL_STORES) return -1;
    Py_ssize_t values_index;
    PyObject **place = rs_attr_place(owner, c, &values_index);
    if (place == NULL && c->fills < RS_CACHE_MAX_FILLS) {
        c->fills++;
        rs_fill_attr_cache(owner, name, c, 1);      /* looks at the type only */
        place = rs_attr_place(owner, c, &values_index);
    }
    if (place == NULL) return -1;
    /* a new attribute (an __init__): an inline value also joins the
     * instance's insertion order, as rs_store_attr_cached does it */
    PyDictValues *added = *place == NULL && values_index >= 0 ? ((PyDictValues **)owner)[-4] : NULL;
    tx->place[tx->nstores] = place;
    tx->old[tx->nstores] = *place;
    tx->added[tx->nstores] = added;
    tx->nstores++;
    *place = Py_NewRef(v);
    if (added != NULL) _PyDictValues_AddToInsertionOrder(added, values_index);
    return 0;
}

static inline PyObject *rs_fl_owned(RsFlTx *tx, PyObject *r) {
    if (r == NULL) {
        PyErr_Clear();         /* ZeroDivisionError, OverflowError: the call with a frame raises it */
        return NULL;
    }
    if (tx->nowned == RS_FL_OWNED) {
        Py_DECREF(r);
        return NULL;
    }
    tx->owned[tx->nowned++] = r;
    return r;
}

/* a op b (3.11's BINARY_OP numbering) of two exact ints or floats, for
 * + - * / // % & | ^ (and << >> of two ints) and their in-place forms;
 * not in place, of an instance whose class defines the operator in
 * Python (rs_fl_binary_method); else NULL */
static PyObject *rs_fl_binary_method(RsFlTx *tx, int op, PyObject *a, PyObject *b);

RS_HOT PyObject *rs_fl_binary(RsFlTx *tx, int op, PyObject *a, PyObject *b) {
    int plain = op >= 13 ? op - 13 : op;
    if (!rs_fl_is_number(a) || !rs_fl_is_number(b))
        return op < 13 ? rs_fl_binary_method(tx, op, a, b) : NULL;
    if ((plain == 3 || plain == 9) && !(PyLong_CheckExact(a) && PyLong_CheckExact(b))) return NULL;
    if (plain != 0 && plain != 1 && plain != 2 && plain != 3 && plain != 5 && plain != 6 && plain != 7 &&
            plain != 9 && plain != 10 && plain != 11 && plain != 12)
        return NULL;
    return rs_fl_owned(tx, rs_binary_op(plain, a, b));
}

/* -a of an exact int or float; else NULL */
RS_HOT PyObject *rs_fl_negative(RsFlTx *tx, PyObject *a) {
    if (!rs_fl_is_number(a)) return NULL;
    return rs_fl_owned(tx, PyNumber_Negative(a));
}

/* Frameless versions calling each other.  A frameless version is emitted
 * as a body, which works in its caller's transaction and returns a
 * borrowed result (valid until the transaction ends: nothing is freed
 * before, rs_fl_commit) or NULL to give up, and a wrapper (the RsFrameless
 * hook.c calls), which runs the body in a transaction of its own.  A body
 * calling a method or function whose code has a frameless version calls
 * that body in the same transaction, so a give-up anywhere undoes every
 * store of the whole call tree and the outermost call runs with a frame,
 * from the start.  No Python code runs in between, so no frame is missed:
 * nothing could look at the frames (tracebacks, sys._getframe, tracing
 * were checked before the outermost call). */
typedef PyObject *(*RsFlBody)(PyObject *fn, PyObject *const *args, RsFlTx *tx);

typedef struct {
    RsFrameless call;       /* what hook.c's call_function tries */
    RsFlBody body;          /* what other frameless versions call (rs_fl_call) */
} RsFlVersion;

/* The outermost frameless call: the RESUME poll (a pending signal makes it
 * give up, and the call with a frame serves it; a thread waiting for the
 * GIL gets it: nothing is borrowed yet), then the body in a transaction of
 * its own.  Nested calls skip the poll: no Python code has run since, and
 * every loop's back-edge polls. */
RS_HOT PyObject *rs_fl_run(RsFlBody body, PyObject *fn, PyObject *const *args) {
    if (rs_pure_interrupted()) return NULL;
    RsFlTx tx;
    rs_fl_begin(&tx);
    PyObject *r = body(fn, args, &tx);
    return r == NULL ? rs_fl_abort(&tx) : rs_fl_commit(&tx, r);
}

/* The method a VALUES way holds for an instance whose attributes are in
 * a __dict__ of its own (rs_own_dict; rs_cached_method cannot tell), if
 * that dict has no `name`; else NULL. */
static PyObject *rs_method_past_dict(PyObject *owner, PyObject *name, RsMethodCache *c) {
    RsCacheWay *way;
    PyObject *dict = rs_own_dict(owner, c, RS_METHOD_VALUES, &way);
    if (dict == NULL) return NULL;
    if (PyDict_GetItemWithError(dict, name) != NULL) return NULL;    /* the instance's own */
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return NULL;
    }
    return way->method;
}

/* The method `owner.name` holds for a call (borrowed): a function found on
 * its type through the site's method cache (rs_cached_method: the type's
 * version tag, and no instance attribute of that name); NULL for anything
 * else (the call with a frame does the lookup). */
RS_HOT PyObject *rs_fl_method(PyObject *owner, PyObject *name, RsMethodCache *c) {
    PyObject *method = rs_cached_method(owner, c);
    if (method != NULL) return method;
    method = rs_method_past_dict(owner, name, c);
    if (method != NULL || c->fills >= RS_CACHE_MAX_FILLS) return method;
    c->fills++;
    rs_fill_method_cache(owner, name, c);      /* looks at the type only */
    method = rs_cached_method(owner, c);
    return method != NULL ? method : rs_method_past_dict(owner, name, c);
}

/* What a call site of a frameless version found last: the body of the
 * frameless version of `code`, valid while the epoch has not changed (a
 * code object freed meanwhile changes it too, so another one at the same
 * address is never taken for it). */
typedef struct {
    PyObject *code;         /* compared only */
    Py_ssize_t epoch;
    RsFlBody body;
} RsFlSite;

/* The body of the frameless version of function `func` called with
 * nargs arguments, through the site's memory; NULL if it has none. */
static inline RsFlBody rs_fl_site_body(PyObject *func, int nargs, RsFlSite *site) {
    PyTypeObject *type = Py_TYPE(func);
    RsFlBody body = site->body;
    if (RS_UNLIKELY(!(type == &PyFunction_Type || type == rs_api->swapped_type) ||
                    ((PyFunctionObject *)func)->func_code != site->code ||
                    site->epoch != *rs_api->frameless_epoch)) {
        body = (RsFlBody)rs_api->frameless_body(func, nargs);
        if (body == NULL) return NULL;
        site->code = ((PyFunctionObject *)func)->func_code;     /* a function: frameless_body checked */
        site->epoch = *rs_api->frameless_epoch;
        site->body = body;
    }
    return body;
}

/* `body` run as a nested call taking `frames` of the recursion budget */
static inline PyObject *rs_fl_nested(RsFlTx *tx, RsFlBody body, PyObject *func, PyObject *const *args,
                                     int frames) {
    if (tx->depth < frames) return NULL;
    (*rs_api->nested_frameless_calls)++;
    tx->depth -= frames;
    PyObject *r = body(func, args, tx);
    tx->depth += frames;
    return r;
}

/* Whether allocating n more objects the gc tracks could start a
 * collection: 3.11's _PyObject_GC_Link collects right there, in the
 * allocating call, when generation 0 passes its threshold, and a
 * collection runs finalizers and weakref callbacks (Python code) */
static inline int rs_fl_allocation_collects(int n) {
    struct _gc_runtime_state *gc = &_PyInterpreterState_GET()->gc;
    return gc->generations[0].count + n > gc->generations[0].threshold && gc->enabled
        && gc->generations[0].threshold && !gc->collecting;
}

#define RS_FL_MAX_ARGS 16

/* A class call, `Vector(x, y, z)`, of a class of the plainest kind: made by
 * `type` itself (no metaclass __call__), object's __new__ and allocation,
 * no __del__ (a give-up frees the new instance), not abstract, and an
 * __init__ that is a Python function with a frameless version.  The
 * instance is made as type_call makes it (its tp_new, object_new:
 * allocation and the inline values of its attributes, or slots), owned by the
 * transaction (a give-up frees it, after putting back what __init__
 * stored); then __init__'s body runs in this transaction and must return
 * None.  It gives up where the allocation would start a collection
 * (rs_fl_allocation_collects): the call with a frame collects there.  It
 * takes two frames of the budget: the class call's C call
 * (_Py_EnterRecursiveCall) and __init__'s frame. */
static PyObject *rs_fl_new_instance(RsFlTx *tx, PyTypeObject *type, PyObject *const *args, int nargs,
                                    RsFlSite *site) {
    static PyObject *init_name = NULL, *no_args = NULL;
    if (Py_TYPE(type) != &PyType_Type || type->tp_new != PyBaseObject_Type.tp_new
            || type->tp_alloc != PyType_GenericAlloc || type->tp_finalize != NULL || type->tp_del != NULL
            || (type->tp_flags & Py_TPFLAGS_IS_ABSTRACT) || nargs + 1 > RS_FL_MAX_ARGS || tx->depth < 2
            /* a __dict__ that is not the inline values would be a dict object
             * made in object_new (_PyObject_InitializeDict): a second allocation */
            || (type->tp_dictoffset != 0 && !(type->tp_flags & Py_TPFLAGS_MANAGED_DICT)))
        return NULL;
    if (RS_UNLIKELY(init_name == NULL)) {
        init_name = PyUnicode_InternFromString("__init__");
        no_args = PyTuple_New(0);
        if (init_name == NULL || no_args == NULL) {
            PyErr_Clear();
            return NULL;
        }
    }
    PyObject *init = _PyType_Lookup(type, init_name);       /* borrowed, no exception set */
    if (init == NULL) return NULL;
    RsFlBody body = rs_fl_site_body(init, nargs + 1, site);
    if (body == NULL || rs_fl_allocation_collects(1)) return NULL;
    PyObject *self = rs_fl_owned(tx, type->tp_new(type, no_args, NULL));
    if (self == NULL) return NULL;
    PyObject *argv[RS_FL_MAX_ARGS];
    argv[0] = self;
    for (int i = 0; i < nargs; i++) argv[i + 1] = args[i];
    PyObject *r = rs_fl_nested(tx, body, init, argv, 2);
    return r == Py_None ? self : NULL;      /* another result: the TypeError, with a frame */
}

/* C functions that run no Python code when given exact ints and floats
 * (math_1, math_floor's float path, min_max comparing numbers), called
 * frameless with such arguments: `math.sqrt(disc)`, `max(y, 0.0)`.  Known
 * by name and module at the first call (no import here), then by their
 * PyMethodDef.  (costmodel.FRAMELESS_C_FUNCTIONS: the same names.) */
static const char *const rs_fl_c_functions[][2] = {
    {"math", "sqrt"}, {"math", "floor"}, {"math", "ceil"}, {"math", "fabs"}, {"math", "exp"},
    {"math", "log"}, {"math", "sin"}, {"math", "cos"}, {"math", "tan"}, {"math", "atan2"},
    {"math", "hypot"}, {"builtins", "abs"}, {"builtins", "min"}, {"builtins", "max"}};
#define RS_FL_C_FUNCTIONS ((int)(sizeof rs_fl_c_functions / sizeof rs_fl_c_functions[0]))

static int rs_fl_is_c_function(PyObject *callable) {
    static PyMethodDef *known[RS_FL_C_FUNCTIONS];
    PyMethodDef *def = ((PyCFunctionObject *)callable)->m_ml;
    for (int k = 0; k < RS_FL_C_FUNCTIONS; k++)
        if (known[k] == def) return 1;
    PyObject *module = PyCFunction_GET_SELF(callable);
    if (module == NULL || !PyModule_CheckExact(module) || def->ml_name == NULL) return 0;
    PyModuleDef *mdef = PyModule_GetDef(module);
    const char *mname = mdef != NULL ? mdef->m_name : NULL;
    if (mname == NULL) return 0;
    for (int k = 0; k < RS_FL_C_FUNCTIONS; k++) {
        if (strcmp(rs_fl_c_functions[k][0], mname) == 0 && strcmp(rs_fl_c_functions[k][1], def->ml_name) == 0) {
            known[k] = def;
            return 1;
        }
    }
    return 0;
}

/* callable(*args) for one of those, with exact int and float arguments
 * only; its result is the transaction's (an error gives up: the call with
 * a frame raises it).  min and max take a tuple of their arguments and
 * iterate it: two objects the gc tracks. */
static PyObject *rs_fl_call_c(RsFlTx *tx, PyObject *callable, PyObject *const *args, int nargs) {
    for (int i = 0; i < nargs; i++)
        if (!rs_fl_is_number(args[i])) return NULL;
    if (!rs_fl_is_c_function(callable) || rs_fl_allocation_collects(2)) return NULL;
    return rs_fl_owned(tx, PyObject_Vectorcall(callable, args, nargs, NULL));
}

/* (a, b) or [a, b]: a new tuple or list of borrowed items, the
 * transaction's; NULL where the allocation could start a collection
 * (rs_fl_allocation_collects) */
static PyObject *rs_fl_sequence(RsFlTx *tx, PyObject *const *items, int n, int is_list) {
    if (rs_fl_allocation_collects(1)) return NULL;
    PyObject *seq = is_list ? PyList_New(n) : PyTuple_New(n);
    for (int i = 0; seq != NULL && i < n; i++) {
        if (is_list) PyList_SET_ITEM(seq, i, Py_NewRef(items[i]));
        else PyTuple_SET_ITEM(seq, i, Py_NewRef(items[i]));
    }
    return rs_fl_owned(tx, seq);
}

/* `xs.append` and `xs.pop` of an exact list: LOAD_METHOD's result for
 * them is this marker, and the call (frameless.py) tests for it */
static inline PyObject *rs_fl_list_marker(void) { return (PyObject *)&PyList_Type; }

static inline PyObject *rs_fl_list_method(PyObject *owner) {
    return PyList_CheckExact(owner) ? rs_fl_list_marker() : NULL;
}

/* xs.append(v), logged (rs_fl_abort takes it back); None, or NULL: give up */
static PyObject *rs_fl_list_append(RsFlTx *tx, PyObject *list, PyObject *v) {
    if (tx->nlist == RS_FL_LIST_OPS) return NULL;
    if (PyList_Append(list, v) < 0) {       /* a reallocation: no Python code */
        PyErr_Clear();
        return NULL;
    }
    tx->list[tx->nlist] = list;
    tx->popped[tx->nlist++] = NULL;
    return Py_None;
}

/* xs.pop(): the last item, borrowed (the log holds the list's reference to
 * it until the end); its memory not shrunk, so that a give-up can put it
 * back without allocating; NULL: give up (empty: IndexError, with a frame) */
static PyObject *rs_fl_list_pop(RsFlTx *tx, PyObject *list) {
    Py_ssize_t n = Py_SIZE(list);
    if (tx->nlist == RS_FL_LIST_OPS || n == 0) return NULL;
    PyObject *item = ((PyListObject *)list)->ob_item[n - 1];
    Py_SET_SIZE(list, n - 1);
    tx->list[tx->nlist] = list;
    tx->popped[tx->nlist++] = item;
    return item;
}

/* callable(*args) through its frameless body, in this transaction (new
 * values it computes are the transaction's, its result borrowed); NULL:
 * give up (no such body, too deep, or the body gave up). */
RS_HOT PyObject *rs_fl_call(RsFlTx *tx, PyObject *callable, PyObject *const *args, int nargs, RsFlSite *site) {
    if (rs_api == NULL || tx->depth <= 0) return NULL;
    if (PyType_Check(callable)) return rs_fl_new_instance(tx, (PyTypeObject *)callable, args, nargs, site);
    if (PyCFunction_CheckExact(callable)) return rs_fl_call_c(tx, callable, args, nargs);
    RsFlBody body = rs_fl_site_body(callable, nargs, site);
    return body == NULL ? NULL : rs_fl_nested(tx, body, callable, args, 1);
}

/* a op b (BINARY_OP's numbering, not in place) where a is an instance of
 * a class whose method for it (`__sub__`) is a Python function with a
 * frameless version, and b of the same class or an exact int or float:
 * then BINARY_OP calls a.__sub__(b) first (binary_op1: b's type is not a
 * subclass of a's; slot_nb_subtract: b's type is a's, or its slot is not
 * a class's), and only that; its body runs in this transaction, like a
 * call's.  NotImplemented gives up (the call with a frame tries the
 * reflected method).  Two frames of the budget: the slot's C call and
 * the method's frame. */
static PyObject *rs_fl_binary_method(RsFlTx *tx, int op, PyObject *a, PyObject *b) {
    static PyObject *names[13];
    static const char *const spelled[13] = {
        "__add__", "__and__", "__floordiv__", "__lshift__", "__matmul__", "__mul__", "__mod__",
        "__or__", NULL /* __pow__: a ternary slot */, "__rshift__", "__sub__", "__truediv__", "__xor__"};
    PyTypeObject *ta = Py_TYPE(a);
    if (rs_api == NULL || op < 0 || op >= 13 || spelled[op] == NULL || !(ta->tp_flags & Py_TPFLAGS_HEAPTYPE)
            || (Py_TYPE(b) != ta && !rs_fl_is_number(b)))
        return NULL;
    if (RS_UNLIKELY(names[op] == NULL)) {
        names[op] = PyUnicode_InternFromString(spelled[op]);
        if (names[op] == NULL) {
            PyErr_Clear();
            return NULL;
        }
    }
    PyObject *method = _PyType_Lookup(ta, names[op]);       /* borrowed, no exception set */
    PyTypeObject *mt = method == NULL ? NULL : Py_TYPE(method);
    if (!(mt == &PyFunction_Type || mt == rs_api->swapped_type)) return NULL;
    RsFlBody body = (RsFlBody)rs_api->frameless_body(method, 2);
    if (body == NULL) return NULL;
    PyObject *argv[2] = {a, b};
    PyObject *r = rs_fl_nested(tx, body, method, argv, 2);
    return r == Py_NotImplemented ? NULL : r;
}

#endif /* RESTRAIN_ABI_H */
