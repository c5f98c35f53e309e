/*
 * restrain._hook -- the PEP 523 frame evaluator.
 *
 * What it does, per frame the interpreter is about to run:
 *   1. frames it must leave alone go straight to _PyEval_EvalFrameDefault:
 *      a throw into a generator, a frame resumed mid-way (generators,
 *      coroutines), tracing or profiling active, restrain's own threads;
 *   2. a code object with a compiled entry point runs that instead: the
 *      frame is linked into the thread's frame chain exactly as the default
 *      evaluator does it, so sys._getframe(), tracebacks, inspect, logging
 *      and warnings see it as usual;
 *   3. otherwise the call is counted (a co_extra slot per code object) and,
 *      at the threshold, the code object is handed once to a Python
 *      callback (restrain.runtime) that queues or performs the compile.
 *
 * Everything about compiling is Python; this file is the hook, the frame
 * handling and the bookkeeping, nothing more.  The ABI compiled modules
 * call is restrain/include/restrain_abi.h.
 */
#define PY_SSIZE_T_CLEAN
#include "restrain_abi.h"

enum {
    RS_COUNTING = 0,   /* below the threshold */
    RS_QUEUED = 1,     /* handed to the callback, no entry yet */
    RS_COMPILED = 2,   /* entry installed */
    RS_NEVER = 3,      /* cannot or must not be compiled: never queued again */
};

/* Per code object, in a co_extra slot (freed with the code object). */
typedef struct {
    Py_ssize_t calls;
    int state;
    RsEntry entry;
    PyObject *owner;   /* keeps the compiled entry's capsule alive */
} RsCodeInfo;

static Py_ssize_t extra_index = -1;
static PyObject *hot_callback = NULL;
/* Called once per process when a first code object is halfway to the
 * threshold: the compiler can start up before the first compile is due. */
static PyObject *prewarm_callback = NULL;
static Py_ssize_t threshold = 1000;
static int installed = 0;
/* >0 while this thread runs restrain's own machinery (compiler thread,
 * synchronous compiles): its frames are neither counted nor compiled. */
static _Thread_local int paused = 0;

static void free_info(void *p) {
    RsCodeInfo *info = (RsCodeInfo *)p;
    if (info == NULL) return;
    Py_XDECREF(info->owner);
    PyMem_RawFree(info);
}

static RsCodeInfo *get_info(PyCodeObject *co, int create) {
    void *p = NULL;
    if (_PyCode_GetExtra((PyObject *)co, extra_index, &p) < 0) {
        PyErr_Clear();
        return NULL;
    }
    if (p != NULL || !create) return (RsCodeInfo *)p;
    RsCodeInfo *info = PyMem_RawCalloc(1, sizeof(RsCodeInfo));
    if (info == NULL) return NULL;
    if (_PyCode_SetExtra((PyObject *)co, extra_index, info) < 0) {
        PyErr_Clear();
        PyMem_RawFree(info);
        return NULL;
    }
    return info;
}

/* Run a compiled entry point for `frame`, linked into the frame chain the
 * way _PyEval_EvalFrameDefault links an entry frame (ceval.c, 3.11). */
static PyObject *run_compiled(PyThreadState *tstate, _PyInterpreterFrame *frame, RsEntry entry) {
    _PyCFrame cframe;
    _PyCFrame *prev_cframe = tstate->cframe;
    cframe.use_tracing = prev_cframe->use_tracing;
    cframe.previous = prev_cframe;
    tstate->cframe = &cframe;
    frame->is_entry = true;
    frame->previous = prev_cframe->current_frame;
    cframe.current_frame = frame;

    PyObject *result = NULL;
    /* pycore_ceval.h's _Py_EnterRecursiveCallTstate */
    if (tstate->recursion_remaining-- <= 0 && _Py_CheckRecursiveCall(tstate, "")) {
        /* RecursionError is set; the counter is already balanced */
        goto unlink;
    }

    PyCodeObject *co = frame->f_code;
    RsFrame f;
    f.tstate = tstate;
    f.frame = frame;
    f.locals = frame->localsplus;
    f.first_instr = _PyCode_CODE(co);
    f.consts = co->co_consts;
    f.names = co->co_names;
    f.exc_shadow = tstate->exc_info->exc_value;
    Py_XINCREF(f.exc_shadow);
    f.second = NULL;
    f.reraise = 0;
    f.unwind_index = -1;

    result = entry(&f);

    if (result == NULL) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        rs_fix_traceback(&f, &tb);
        PyErr_Restore(type, value, tb);
    }
    /* Cython's try/except may have left its own idea of the exception
     * state; the frame's is in exc_shadow. */
    if (tstate->exc_info->exc_value != f.exc_shadow) {
        PyObject *old = tstate->exc_info->exc_value;
        tstate->exc_info->exc_value = f.exc_shadow;
        Py_XDECREF(old);
    } else {
        Py_XDECREF(f.exc_shadow);
    }
    Py_XDECREF(f.second);
    tstate->recursion_remaining++;

unlink:
    tstate->cframe = cframe.previous;
    tstate->cframe->use_tracing = cframe.use_tracing;
    return result;
}

/* Hand a hot code object to the Python side. Returns -1 only when the
 * callback was interrupted by something the program must see
 * (KeyboardInterrupt and other non-Exception BaseExceptions). */
static int report_hot(PyCodeObject *co, RsCodeInfo *info) {
    info->state = RS_QUEUED;
    if (hot_callback == NULL) return 0;
    paused++;
    PyObject *r = PyObject_CallOneArg(hot_callback, (PyObject *)co);
    paused--;
    if (r != NULL) {
        Py_DECREF(r);
        return 0;
    }
    /* The callback catches everything of its own; what is left here is an
     * interruption or a bug.  Never let a JIT bug reach the program. */
    if (PyErr_ExceptionMatches(PyExc_Exception)) {
        PyErr_WriteUnraisable(hot_callback);
        info->state = RS_NEVER;
        return 0;
    }
    return -1;
}

static PyObject *restrain_eval(PyThreadState *tstate, _PyInterpreterFrame *frame, int throwflag) {
    PyCodeObject *co = frame->f_code;
    if (throwflag || paused || tstate->cframe->use_tracing ||
        frame->owner != FRAME_OWNED_BY_THREAD ||
        frame->prev_instr != _PyCode_CODE(co) - 1) {
        return _PyEval_EvalFrameDefault(tstate, frame, throwflag);
    }
    RsCodeInfo *info = get_info(co, 1);
    if (info == NULL) return _PyEval_EvalFrameDefault(tstate, frame, throwflag);
    info->calls++;
    if (info->entry != NULL) return run_compiled(tstate, frame, info->entry);
    if (prewarm_callback != NULL && info->calls == threshold / 2 + 1) {
        PyObject *cb = prewarm_callback;
        prewarm_callback = NULL;             /* once */
        paused++;
        PyObject *r = PyObject_CallOneArg(cb, (PyObject *)co);
        paused--;
        Py_DECREF(cb);
        if (r == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_Exception)) return NULL;
            PyErr_WriteUnraisable(NULL);
        }
        Py_XDECREF(r);
    }
    if (info->state == RS_COUNTING && info->calls >= threshold) {
        if (report_hot(co, info) < 0) return NULL;
        if (info->entry != NULL) return run_compiled(tstate, frame, info->entry);
    }
    return _PyEval_EvalFrameDefault(tstate, frame, throwflag);
}

/* ---- Python interface (used by restrain/runtime.py) ---------------------- */

/* install(callback): callback(code) is called once per hot code object;
 * None installs the evaluator only to run entries compiled explicitly. */
static PyObject *hook_install(PyObject *self, PyObject *callback) {
    PyInterpreterState *interp = PyInterpreterState_Get();
    _PyFrameEvalFunction current = _PyInterpreterState_GetEvalFrameFunc(interp);
    if (current != _PyEval_EvalFrameDefault && current != restrain_eval) {
        PyErr_SetString(PyExc_RuntimeError,
                        "another frame evaluator (PEP 523) is installed, e.g. by a debugger "
                        "or another JIT; restrain will not replace it");
        return NULL;
    }
    if (callback == Py_None) {
        Py_CLEAR(hot_callback);
    } else {
        Py_INCREF(callback);
        Py_XSETREF(hot_callback, callback);
    }
    _PyInterpreterState_SetEvalFrameFunc(interp, restrain_eval);
    installed = 1;
    Py_RETURN_NONE;
}

static PyObject *hook_uninstall(PyObject *self, PyObject *unused) {
    PyInterpreterState *interp = PyInterpreterState_Get();
    if (_PyInterpreterState_GetEvalFrameFunc(interp) == restrain_eval) {
        _PyInterpreterState_SetEvalFrameFunc(interp, _PyEval_EvalFrameDefault);
    }
    installed = 0;
    Py_RETURN_NONE;
}

static PyObject *hook_is_installed(PyObject *self, PyObject *unused) {
    PyInterpreterState *interp = PyInterpreterState_Get();
    return PyBool_FromLong(installed && _PyInterpreterState_GetEvalFrameFunc(interp) == restrain_eval);
}

static PyObject *hook_set_threshold(PyObject *self, PyObject *arg) {
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred()) return NULL;
    threshold = n < 1 ? 1 : n;
    Py_RETURN_NONE;
}

static int code_arg(PyObject *arg, PyCodeObject **co) {
    if (!PyCode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "expected a code object");
        return 0;
    }
    *co = (PyCodeObject *)arg;
    return 1;
}

/* set_entry(code, capsule): from now on frames of `code` run the compiled entry */
static PyObject *hook_set_entry(PyObject *self, PyObject *args) {
    PyCodeObject *co;
    PyObject *capsule;
    if (!PyArg_ParseTuple(args, "O&O", code_arg, &co, &capsule)) return NULL;
    void *p = PyCapsule_GetPointer(capsule, "restrain.entry");
    if (p == NULL) return NULL;
    RsCodeInfo *info = get_info(co, 1);
    if (info == NULL) return PyErr_NoMemory();
    Py_INCREF(capsule);
    Py_XSETREF(info->owner, capsule);
    info->entry = (RsEntry)p;
    info->state = RS_COMPILED;
    Py_RETURN_NONE;
}

/* clear_entry(code): back to the interpreter (and not queued again) */
static PyObject *hook_clear_entry(PyObject *self, PyObject *arg) {
    PyCodeObject *co;
    if (!code_arg(arg, &co)) return NULL;
    RsCodeInfo *info = get_info(co, 0);
    if (info != NULL) {
        info->entry = NULL;
        info->state = RS_NEVER;
        Py_CLEAR(info->owner);
    }
    Py_RETURN_NONE;
}

/* mark_never(code): leave this code object to the interpreter for good */
static PyObject *hook_mark_never(PyObject *self, PyObject *arg) {
    PyCodeObject *co;
    if (!code_arg(arg, &co)) return NULL;
    RsCodeInfo *info = get_info(co, 1);
    if (info != NULL && info->entry == NULL) info->state = RS_NEVER;
    Py_RETURN_NONE;
}

/* mark_queued(code): compiled explicitly (restrain.compile): don't report it */
static PyObject *hook_mark_queued(PyObject *self, PyObject *arg) {
    PyCodeObject *co;
    if (!code_arg(arg, &co)) return NULL;
    RsCodeInfo *info = get_info(co, 1);
    if (info != NULL && info->state == RS_COUNTING) info->state = RS_QUEUED;
    Py_RETURN_NONE;
}

/* info(code) -> (calls, state name) */
static PyObject *hook_info(PyObject *self, PyObject *arg) {
    PyCodeObject *co;
    if (!code_arg(arg, &co)) return NULL;
    RsCodeInfo *info = get_info(co, 0);
    static const char *names[] = {"counting", "queued", "compiled", "never"};
    if (info == NULL) return Py_BuildValue("(ns)", (Py_ssize_t)0, "counting");
    return Py_BuildValue("(ns)", info->calls, names[info->state]);
}

static PyObject *hook_set_prewarm(PyObject *self, PyObject *callback) {
    if (callback == Py_None) {
        Py_CLEAR(prewarm_callback);
    } else {
        Py_INCREF(callback);
        Py_XSETREF(prewarm_callback, callback);
    }
    Py_RETURN_NONE;
}

static PyObject *hook_pause_thread(PyObject *self, PyObject *unused) {
    paused++;
    Py_RETURN_NONE;
}

static PyObject *hook_resume_thread(PyObject *self, PyObject *unused) {
    if (paused > 0) paused--;
    Py_RETURN_NONE;
}

static PyMethodDef hook_methods[] = {
    {"install", hook_install, METH_O, "install(callback): install the evaluator; callback(code) is called once per hot code object"},
    {"uninstall", hook_uninstall, METH_NOARGS, "put back the default evaluator"},
    {"is_installed", hook_is_installed, METH_NOARGS, "whether restrain's evaluator is active"},
    {"set_threshold", hook_set_threshold, METH_O, "calls before a code object counts as hot"},
    {"set_entry", hook_set_entry, METH_VARARGS, "set_entry(code, capsule): run compiled code for this code object"},
    {"clear_entry", hook_clear_entry, METH_O, "drop a code object's compiled entry"},
    {"mark_never", hook_mark_never, METH_O, "never queue this code object"},
    {"mark_queued", hook_mark_queued, METH_O, "do not report this code object as hot"},
    {"info", hook_info, METH_O, "info(code) -> (calls, state)"},
    {"set_prewarm", hook_set_prewarm, METH_O, "set_prewarm(callable): callable(code) is called once, when a first code object is halfway to hot"},
    {"pause_thread", hook_pause_thread, METH_NOARGS, "stop counting and compiling frames of this thread"},
    {"resume_thread", hook_resume_thread, METH_NOARGS, "undo pause_thread"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef hook_module = {
    PyModuleDef_HEAD_INIT, "restrain._hook", "restrain's PEP 523 frame evaluator", -1, hook_methods,
};

PyMODINIT_FUNC PyInit__hook(void) {
    if (extra_index < 0) {
        extra_index = _PyEval_RequestCodeExtraIndex(free_info);
        if (extra_index < 0) {
            PyErr_SetString(PyExc_RuntimeError, "no free co_extra slot for restrain");
            return NULL;
        }
    }
    PyObject *m = PyModule_Create(&hook_module);
    if (m == NULL) return NULL;
    if (PyModule_AddIntConstant(m, "ABI_VERSION", 1) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
