/* Named tuples built from compiled code at the cost of a plain tuple (see records.py).
 *
 * `new(cls, *items)` is `tuple.__new__(cls, items)` for a subclass of tuple that adds no
 * storage (a `NamedTuple`: `__slots__ = ()`), without what that call costs from C: the
 * argument tuple, `tuple.__new__`'s keyword parsing and the intermediate tuple it copies
 * (about 900 instructions; this: about 150). The object is allocated the way
 * `tuple.__new__` allocates a subclass's (`tp_alloc`), so it is the same object. Like
 * `tuple.__new__`, it does not check the number of items against the class's fields:
 * the callers pass them written out. tests/unit/test_records.py compares the two.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

PyDoc_STRVAR(new_doc,
"new(cls, /, *items)\n--\n\n"
"`tuple.__new__(cls, items)` for a tuple subclass that adds no storage (a NamedTuple).");

static PyObject *
records_new(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError, "new() needs the class");
        return NULL;
    }
    PyObject *cls = args[0];
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &PyTuple_Type)) {
        PyErr_Format(PyExc_TypeError, "new() needs a subclass of tuple, not %R", cls);
        return NULL;
    }
    PyTypeObject *type = (PyTypeObject *)cls;
    Py_ssize_t n = nargs - 1;
    if (type != &PyTuple_Type && (type->tp_basicsize != PyTuple_Type.tp_basicsize
            || type->tp_itemsize != PyTuple_Type.tp_itemsize)) {
        PyErr_Format(PyExc_TypeError, "new() needs a tuple subclass without storage of "
                     "its own (__slots__ = ()), not %R", cls);
        return NULL;
    }
    PyObject *made = type == &PyTuple_Type ? PyTuple_New(n) : type->tp_alloc(type, n);
    if (made == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = args[i + 1];
        Py_INCREF(item);
        PyTuple_SET_ITEM(made, i, item);
    }
    return made;
}

static PyMethodDef records_methods[] = {
    {"new", (PyCFunction)(void (*)(void))records_new, METH_FASTCALL, new_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef records_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "hip3term.core._records",
    .m_doc = "Named tuples built from compiled code at the cost of a plain tuple "
             "(see records.py).",
    .m_size = 0,
    .m_methods = records_methods,
};

PyMODINIT_FUNC
PyInit__records(void)
{
    return PyModuleDef_Init(&records_module);
}
