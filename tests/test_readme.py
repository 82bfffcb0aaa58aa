"""The README's example of custom layers and a subclassed model runs as written."""
import os

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def test_readme_custom_layers_example_runs(tmp_path, monkeypatch, capsys):
    text = open(README).read()
    section = text[text.index("## Your own layers and models"):]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "Total params: 1,002" in out and (tmp_path / "mlp.weights.h5").exists()
