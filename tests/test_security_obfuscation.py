"""String-obfuscation check: hidden code is flagged, ordinary string work never is."""
from __future__ import annotations

import pytest

from tinycode_jupyter.security import SecurityPolicy

# Realistic data-science snippets: every one must pass the default policy with no finding.
ORDINARY = [
    'import pandas as pd\ndf = pd.DataFrame({"a": [1, 2], "b": [3, 4]})\n'
    'print("Mean of a: {:.2f}".format(df["a"].mean()))',
    'name = "sales"\ntotal = 1234.5\nprint(f"{name}: {total:,.2f}")',
    'cols = ["region", "month", "revenue"]\nprint(",".join(cols))',
    'day = "2024-01-31"\nprint(day.replace("-", "/"))',
    'print(chr(65))\nletters = [chr(ord("a") + i) for i in range(5)]\nprint(letters)',
    'print("abc"[::-1])\nprint(list(reversed([1, 2, 3])))',
    'greeting = "Hello, " + "world"\nprint(greeting + "!")',
    'import statistics\nfor fn in ["mean", "median"]:\n    print(fn, getattr(statistics, fn)([1, 2, 3]))',
    'class Handler:\n    def on_start(self):\n        return "started"\n    def dispatch(self, event):\n'
    '        return getattr(self, "on_" + event)()\nprint(Handler().dispatch("start"))',
    'import pandas as pd\ndf = pd.DataFrame({"x": range(10)})\nthreshold = 5\nprint(df.query(f"x > {threshold}"))',
    'import pandas as pd\ndf = pd.DataFrame({"x": [1, 2]})\ndf = df.eval("y = x * 2")\nprint(df)',
    'import re\npattern = re.compile(r"(\\d+)-(\\d+)")\nprint(pattern.findall("1-2 3-4"))',
    'import json\nprint(json.dumps({"a": 1, "b": [1, 2]}, indent=2))',
    'import hashlib\nprint(hashlib.sha256("data".encode()).hexdigest())',
    'print(bytes.fromhex("48656c6c6f").decode())',
    'import codecs\nwith codecs.open("notes.txt", "w", encoding="utf-8") as f:\n    f.write("hi")',
    'import binascii\nprint(binascii.crc32(b"hello"), binascii.hexlify(b"hi"))',
    'import matplotlib\nmatplotlib.use("Agg")\nimport matplotlib.pyplot as plt\nfig, ax = plt.subplots()\n'
    'for i in range(3):\n    ax.plot([0, 1], [i, i + 1], label="series %d" % i)\n'
    'ax.set_title("Run " + str(3))\nax.legend()',
    'print(eval("2 + 3 * 4"))',
    'print("%s has %d rows" % ("df", 10))',
    'import numpy as np\narr = np.arange(12).reshape(3, 4)\nprint(arr[::-1], arr[:, ::-1])',
    'from string import Template\nprint(Template("$who likes $what").substitute(who="tim", what="pie"))',
    'for i in range(3):\n    globals()["df_" + str(i)] = i * 10\nprint(globals()["df_1"])',
    'from sklearn.linear_model import LinearRegression\nimport numpy as np\nX = np.array([[1], [2], [3]])\n'
    'y = np.array([2, 4, 6])\nmodel = LinearRegression().fit(X, y)\nprint(f"coef={model.coef_[0]:.1f}")',
    'print("".join(reversed("stressed")))',
    'parts = "a,b,c".split(",")[::-1]\nprint(parts)',
    'from datetime import datetime\nprint(datetime.now().strftime("%Y-%m-%d"))',
    'text = "".join(chr(c) for c in [72, 105])\nprint(text)',
    'import textwrap\nreport = textwrap.dedent("""\n    Rows: {rows}\n""").format(rows=10)\nprint(report.strip())',
    'label = "_".join(["model", "v2"]).upper()\nsetattr(type("Config", (), {})(), label, 1)',
]

# Each hides code or a module name; every one must be flagged by the obfuscation rule.
OBFUSCATED = [
    "import base64",
    'from base64 import b64decode\nprint(b64decode("aGk="))',
    'import base64\ncode = base64.b64decode("aW1wb3J0IG9z")\nexec(code)',
    'import binascii\nbinascii.a2b_base64(b"aGk=")',
    'import codecs\ncodecs.decode(b"aGk=", "base64")',
    'import codecs\nprint(codecs.decode("vzcbeg bf", "rot_13"))',
    'import codecs\ncodecs.encode("import os", encoding="rot13")',
    '__import__("base64")',
    'exec("".join(chr(c) for c in [112, 114, 105, 110, 116, 40, 49, 41]))',
    'exec(bytes.fromhex("7072696e74283129").decode())',
    'exec(")1(tnirp"[::-1])',
    '__import__("so"[::-1])',
    '__import__("o" + "s")',
    'getattr(__builtins__, "ev" + "al")("1")',
    'import builtins\ngetattr(builtins, "".join(["ex", "ec"]))("print(1)")',
    'import zlib\nexec(zlib.decompress(b"x\\x9c+(\\xca\\xcc+\\xd1\\x304\\xd4\\x04\\x00\\x0c\\xa6\\x02\\xad"))',
    'import marshal\ndata = open("blob", "rb").read()\nexec(marshal.loads(data))',
    'payload = "imp" + "ort os"\nexec(payload)',
    'import importlib\nimportlib.import_module("o" + "s")',
    'name = ""\nfor c in [101, 118, 97, 108]:\n    name += chr(c)\ngetattr(__builtins__, name)("1")',
    'globals()[chr(101) + "val"]("1")',
    'compile("".join(map(chr, [112, 40, 41])), "<x>", "exec")',
    'vars(__builtins__)["ex" + "ec"]("print(1)")',
    'key = "lave"[::-1]\nfn = getattr(__import__("builtins"), key)',
    'src = f"imp{chr(111)}rt os"\neval(compile(src, "<s>", "exec"))',
    'import codecs as c\nc.decode("vzcbeg bf", "rot13")',
    'from codecs import decode\nexec(decode("cevag(1)", "rot_13"))',
    'from zlib import decompress as dz\nexec(dz(open("blob", "rb").read()))',
]


def test_lists_are_big_enough_to_mean_something():
    assert len(ORDINARY) >= 20 and len(OBFUSCATED) >= 15


@pytest.mark.parametrize("code", ORDINARY)
def test_ordinary_string_work_is_never_flagged(code):
    assert SecurityPolicy().check_python(code) == []


@pytest.mark.parametrize("code", OBFUSCATED)
def test_obfuscation_is_flagged(code):
    findings = SecurityPolicy(authorized_imports=["*"]).check_python(code)
    obfuscation = [finding for finding in findings if finding.rule == "obfuscation"]
    assert obfuscation, findings
    assert obfuscation[0].line is not None


@pytest.mark.parametrize("code", OBFUSCATED)
def test_turning_the_check_off_lets_obfuscation_through(code):
    findings = SecurityPolicy(authorized_imports=["*"], check_string_obfuscation=False).check_python(code)
    assert [finding for finding in findings if finding.rule == "obfuscation"] == []


def test_the_check_can_be_toggled_on_a_live_policy():
    policy = SecurityPolicy()
    code = 'import base64\nprint(base64.b64encode(b"chart.png"))'
    assert policy.check_python(code)
    policy.check_string_obfuscation = False
    assert policy.check_python(code) == []  # base64 itself is harmless stdlib for the import rule
    policy.check_string_obfuscation = True
    assert policy.check_python(code)


def test_messages_say_what_was_blocked_and_how_to_allow_it():
    policy = SecurityPolicy()
    finding = policy.check_python("import base64")[0]
    assert "base64" in finding.message and "set_check_string_obfuscation(False)" in finding.message
    finding = policy.check_python('exec("".join(chr(c) for c in [49]))')[0]
    assert finding.rule == "obfuscation"
    assert "`exec()`" in finding.message and "chr()" in finding.message


def test_built_strings_are_followed_through_assignments_to_the_line_that_runs_them():
    code = 'a = "ex"\nb = a + "ec"\nc = b\n\ngetattr(__builtins__, c)("print(1)")\n'
    findings = SecurityPolicy(authorized_imports=["*"]).check_python(code)
    assert [(f.rule, f.line) for f in findings] == [("obfuscation", 5)]


def test_obfuscation_inside_exec_literal_is_found():
    findings = SecurityPolicy(authorized_imports=["*"]).check_python('exec("import base64")')
    assert [(f.rule, f.line) for f in findings] == [("obfuscation", 1)]
