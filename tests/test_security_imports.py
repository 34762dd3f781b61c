"""The import allowlist: what the model may import before its code runs."""
from __future__ import annotations

import pytest

from tinycode_jupyter.errors import ConfigurationError
from tinycode_jupyter.security import Finding, SecurityPolicy


def rules(findings: list[Finding]) -> set[str]:
    return {finding.rule for finding in findings}


@pytest.fixture
def policy() -> SecurityPolicy:
    return SecurityPolicy()


@pytest.mark.parametrize("code", [
    "import math, json, re, datetime, collections, itertools, functools, statistics",
    "import random, string, textwrap, typing, dataclasses, decimal, fractions, enum, time",
    "import heapq, bisect, copy, pprint, operator, uuid, hashlib, csv, io",
    "from collections.abc import Mapping",
    "from collections import Counter, defaultdict",
    "import numpy as np\nimport pandas as pd",
    "import matplotlib.pyplot as plt\nimport seaborn as sns",
    "from sklearn.model_selection import train_test_split",
    "from scipy import stats\nimport statsmodels.api as sm",
    "import polars as pl\nimport pyarrow.parquet as pq\nimport plotly.express as px",
    "from IPython.display import display, Markdown",
    "from . import helpers\nfrom .utils import load",
    "from __future__ import annotations",
])
def test_default_policy_allows_harmless_stdlib_and_data_science(policy, code):
    assert policy.check_python(code) == []


@pytest.mark.parametrize("module", [
    "os", "sys", "subprocess", "shutil", "socket", "ctypes", "importlib", "builtins", "pickle",
    "marshal", "multiprocessing", "signal", "pathlib", "urllib.request", "http.client", "tempfile",
])
def test_dangerous_stdlib_is_blocked_by_default_with_a_helpful_message(policy, module):
    findings = policy.check_python(f"import {module}\n")
    assert len(findings) == 1
    finding = findings[0]
    assert finding.rule == "import" and finding.line == 1
    assert f"'{module}'" in finding.message
    assert f"authorized_imports=[..., '{module}']" in finding.message


@pytest.mark.parametrize("code", [
    "import os as o",
    "import os.path",
    "from os import path",
    "from os.path import join",
    "from os import *",
    "import math, os",
    "__import__('os')",
    "name = 'os'\n__import__(name)",
    "__builtins__.__import__('os')",
    "if True:\n    def f():\n        import subprocess\n        return subprocess",
    "try:\n    import pickle\nexcept ImportError:\n    pass",
])
def test_every_import_form_is_seen(policy, code):
    assert "import" in rules(policy.check_python(code))


def test_importlib_with_a_literal_is_checked_when_importlib_itself_is_allowed():
    policy = SecurityPolicy(authorized_imports=["importlib", "pandas"])
    assert policy.check_python("import importlib\nimportlib.import_module('pandas')") == []
    findings = policy.check_python("import importlib\nimportlib.import_module('os')")
    assert [(f.rule, f.line) for f in findings] == [("import", 2)]
    assert "'os'" in findings[0].message


def test_computed_module_names_cannot_be_checked(policy):
    findings = policy.check_python("mod = input()\nm = __import__(mod)")
    assert findings and findings[0].rule == "import" and findings[0].line == 2
    assert "computed module name" in findings[0].message


def test_a_list_means_harmless_stdlib_plus_exactly_the_patterns():
    policy = SecurityPolicy(authorized_imports=["pandas"])
    assert policy.check_python("import pandas as pd\nimport json") == []
    assert "import" in rules(policy.check_python("import numpy"))  # not listed, so not allowed
    assert "import" in rules(policy.check_python("import pandas.plotting"))  # exact, not the submodules


def test_package_star_pattern_allows_the_package_and_submodules():
    policy = SecurityPolicy(authorized_imports=["pandas.*"])
    assert policy.check_python("import pandas\nimport pandas.plotting as pp\nfrom pandas.io import json") == []
    assert "import" in rules(policy.check_python("import pandasx"))


def test_star_allows_everything():
    policy = SecurityPolicy(authorized_imports=["*"])
    assert policy.check_python("import os, sys, subprocess\nexec(open('x.py').read())") == []


def test_importing_a_submodule_binds_its_parent():
    policy = SecurityPolicy(authorized_imports=["os.path"])
    assert policy.check_python("from os import path\nimport os.path as osp") == []
    findings = policy.check_python("import os.path")
    assert "binds the name 'os'" in findings[0].message
    assert "import" in rules(policy.check_python("from os import system"))


@pytest.mark.parametrize("code", [
    "().__class__.__base__.__subclasses__()",
    "f = lambda: 0\nf.__globals__['x']",
    "__builtins__['open']",
    "getattr(print, '__globals__')",
    "g = (x for x in [])\ng.gi_frame.f_globals",
    "loader = __loader__",
    "imp = __import__",
])
def test_attributes_that_reach_modules_without_importing_are_flagged(policy, code):
    findings = policy.check_python(code)
    assert "import" in rules(findings)
    assert "bypasses authorized_imports" in findings[0].message


def test_exec_of_literal_code_is_checked_like_the_code_around_it(policy):
    assert policy.check_python("exec('total = sum([1, 2, 3])')") == []
    findings = policy.check_python("x = 1\nexec('import os')")
    assert [(f.rule, f.line) for f in findings] == [("import", 2)]
    findings = policy.check_python("code = 'import socket'\nexec(code)")
    assert [(f.rule, f.line) for f in findings] == [("import", 2)]


def test_exec_of_code_known_only_at_run_time_is_flagged(policy):
    findings = policy.check_python("exec(open('script.py').read())")
    assert findings[0].rule == "import"
    assert "only known at run time" in findings[0].message


def test_method_calls_named_like_builtins_are_not_exec(policy):
    code = (
        "import re\nimport pandas as pd\ndf = pd.DataFrame({'x': [1]})\n"
        "df.eval('y = x * 2')\npd.eval('1 + 1')\nre.compile(r'\\d+')"
    )
    assert policy.check_python(code) == []


def test_lines_point_at_the_offending_import(policy):
    findings = policy.check_python("import math\n\nx = 1\nimport shutil\nimport socket\n")
    assert [(f.line, "'shutil'" in f.message or "'socket'" in f.message) for f in findings] == [(4, True), (5, True)]


def test_invalid_patterns_are_a_configuration_error():
    with pytest.raises(ConfigurationError):
        SecurityPolicy(authorized_imports=["pandas; os"])
    with pytest.raises(ConfigurationError):
        SecurityPolicy(authorized_imports="pandas")  # a string, not a list


def test_syntax_errors_block_with_the_interpreters_message(policy):
    findings = policy.check_python("x = 1\nprint(x\n")
    assert [(f.rule, f.line) for f in findings] == [("syntax", 2)]
    assert findings[0].message.startswith("SyntaxError:")


def test_notebook_magics_parse_as_the_kernel_would(policy):
    assert policy.check_python("%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])") == []
    assert "import" in rules(policy.check_python("%time import subprocess"))
    assert "import" in rules(policy.check_python("%load_ext evil_extension"))
    assert "import" in rules(policy.check_python("%run helper.py"))
