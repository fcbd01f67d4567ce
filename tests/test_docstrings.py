"""Every parameter of the public estimators and functions is documented in its docstring.

numpydoc parses the docstrings as the API reference (docs/site) renders them; a parameter of
the signature (``__init__``'s for a class) must appear in the Parameters section with a
non-empty description.
"""

import inspect

import pytest
from numpydoc.docscrape import ClassDoc, FunctionDoc

import aecm
from aecm import metrics

ESTIMATORS = [
    aecm.AECM,
    aecm.DCN,
    aecm.DEC,
    aecm.DKM,
    aecm.IDEC,
    aecm.AEKMeans,
    aecm.ClusteringModule,
    aecm.IsotropicGMM,
]
METRICS = [getattr(metrics, name) for name in metrics.__all__]
FUNCTIONS = [aecm.load, aecm.select_k, *(func for func in METRICS if inspect.isfunction(func))]


def _documented(doc) -> dict[str, bool]:
    """Each name of the Parameters section and whether its description is non-empty
    (``a, b : type`` documents both; ``**params`` is ``params``)."""
    described = {}
    for parameter in doc["Parameters"]:
        has_text = any(line.strip() for line in parameter.desc)
        for name in parameter.name.split(","):
            described[name.strip().lstrip("*")] = has_text
    return described


def _undocumented(signature: inspect.Signature, doc) -> list[str]:
    described = _documented(doc)
    return [
        name for name in signature.parameters if name != "self" and not described.get(name, False)
    ]


def _name(obj) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_estimator_parameters_are_documented(cls):
    doc = ClassDoc(cls, config={"show_class_members": False})
    missing = _undocumented(inspect.signature(cls.__init__), doc)
    assert not missing, (
        f"{_name(cls)}: parameters of __init__ missing from the docstring's Parameters section "
        f"or without a description: {', '.join(missing)}"
    )


@pytest.mark.parametrize("func", FUNCTIONS, ids=lambda func: _name(func))
def test_function_parameters_are_documented(func):
    doc = FunctionDoc(func, config={})
    missing = _undocumented(inspect.signature(func), doc)
    assert not missing, (
        f"{_name(func)}: parameters missing from the docstring's Parameters section or without "
        f"a description: {', '.join(missing)}"
    )


def test_the_lists_cover_the_public_names():
    """A new public estimator or function is checked too (or this list says why not)."""
    classes = {name for name in aecm.__all__ if inspect.isclass(getattr(aecm, name))}
    assert classes == {cls.__name__ for cls in ESTIMATORS}
    functions = {name for name in aecm.__all__ if inspect.isfunction(getattr(aecm, name))}
    assert functions <= {func.__name__ for func in FUNCTIONS}
