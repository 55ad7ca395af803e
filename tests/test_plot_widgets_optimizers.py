"""The optimizers notebook's plot helpers (cnn_course.plot) and its explorer (cnn_course.widgets)."""

import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from cnn_course import plot, ref, widgets  # noqa: E402
from cnn_course.pt.train import History  # noqa: E402


def _n_axes(fig):
    assert isinstance(fig, Figure), f"expected a matplotlib Figure, got {type(fig).__name__}"
    return len(fig.axes)


@pytest.fixture(autouse=True)
def _no_figures_left_open():
    before = set(plt.get_fignums())
    yield
    leaked = set(plt.get_fignums()) - before
    plt.close("all")
    assert not leaked, "a helper left a pyplot figure open"


def _paths():
    start = ref.optim.ILL_CONDITIONED_START
    return {
        "GD": ref.optimize_path("gd", start, 30, lr=0.09),
        "Adam": ref.optimize_path("adam", start, 30, lr=0.3),
    }


# ------------------------------------------------------------------------- paths


def test_plot_paths_draws_one_line_per_path_and_the_contours():
    fig = plot.plot_paths(_paths(), ref.ill_conditioned, title="bowl")
    assert _n_axes(fig) == 1
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.lines]
    assert "GD" in labels and "Adam" in labels, labels
    assert ax.collections, "the contours of the loss are missing"
    assert ax.get_title() == "bowl"


def test_plot_paths_view_frames_the_start_and_the_minimum():
    fig = plot.plot_paths(_paths())
    (x0, x1), (y0, y1) = fig.axes[0].get_xlim(), fig.axes[0].get_ylim()
    assert x0 < -8 < 0 < x1 and y0 < 0 < 1.5 < y1


def test_plot_paths_keeps_a_sane_view_when_a_path_diverges():
    start = ref.optim.ILL_CONDITIONED_START
    with np.errstate(over="ignore", invalid="ignore"):
        diverging = ref.optimize_path("gd", start, 60, lr=0.2)
    assert not np.all(np.isfinite(diverging[-1])) or np.abs(diverging[-1]).max() > 1e6
    fig = plot.plot_paths({"GD (diverges)": diverging, **_paths()}, ref.ill_conditioned)
    x0, x1 = fig.axes[0].get_xlim()
    assert -30 < x0 and x1 < 30, f"one diverging path must not blow up the view, got xlim {(x0, x1)}"


def test_plot_paths_accepts_tensors_and_explicit_limits():
    fig = plot.plot_paths({"p": torch.zeros(3, 2)}, xlim=(-1, 1), ylim=(-2, 2))
    assert fig.axes[0].get_xlim() == (-1, 1) and fig.axes[0].get_ylim() == (-2, 2)


@pytest.mark.parametrize("bad", [{}, {"p": np.zeros((3, 3))}, [np.zeros((3, 2))]])
def test_plot_paths_rejects_bad_input(bad):
    with pytest.raises(ValueError, match=r"steps \+ 1, 2"):
        plot.plot_paths(bad)


# ------------------------------------------------------------------------- decision boundaries


def _blobs(rng, m=60):
    X = rng.standard_normal((m, 2))
    y = (X[:, 0] > 0).astype(np.int64)
    return X, y


def test_plot_decision_boundary_single_and_several(rng):
    X, y = _blobs(rng)
    perfect = lambda P: (P[:, 0] > 0).astype(int)  # noqa: E731
    fig = plot.plot_decision_boundary(perfect, X, y, title="linear")
    assert _n_axes(fig) == 1
    assert "100.0%" in fig.axes[0].get_title() and "linear" in fig.axes[0].get_title()
    fig = plot.plot_decision_boundary({"right": perfect, "wrong": lambda P: 1 - perfect(P), "const": lambda P: np.zeros(len(P))},
                                      X, y, cols=2, resolution=40)
    assert _n_axes(fig) == 3
    assert "0.0%" in fig.axes[1].get_title()


def test_plot_decision_boundary_three_classes(rng):
    X = rng.standard_normal((90, 2))
    y = np.digitize(X[:, 0], [-0.5, 0.5]).astype(np.int64)
    fig = plot.plot_decision_boundary(lambda P: np.digitize(P[:, 0], [-0.5, 0.5]), X, y, resolution=30)
    assert "100.0%" in fig.axes[0].get_title()


def test_plot_decision_boundary_rejects_bad_input(rng):
    X, y = _blobs(rng)
    with pytest.raises(ValueError, match=r"\(m, 2\)"):
        plot.plot_decision_boundary(lambda P: P[:, 0] > 0, np.zeros((5, 3)), np.zeros(5))
    with pytest.raises(ValueError, match="predict"):
        plot.plot_decision_boundary("not a function", X, y)


# ------------------------------------------------------------------------- curves and histories


def test_plot_curves_sequences_pairs_and_log_axes():
    fig = plot.plot_curves({"a": [3, 2, 1], "b": (np.array([1, 10, 100]), np.array([1e-3, 1e-1, 10]))},
                           logx=True, logy=True, styles={"a": "--"}, title="t")
    ax = fig.axes[0]
    assert _n_axes(fig) == 1 and len(ax.lines) == 2
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [0, 1, 2])


def test_plot_curves_rejects_bad_input():
    with pytest.raises(ValueError, match="non-empty dict"):
        plot.plot_curves([])
    with pytest.raises(ValueError, match="same length"):
        plot.plot_curves({"a": ([1, 2, 3], [1, 2])})


def test_compare_histories_uses_test_accuracy_or_falls_back_to_training():
    with_test = History(train_loss=[1.0, 0.5], train_acc=[0.5, 0.7], test_loss=[1.1, 0.6], test_acc=[0.4, 0.6])
    no_test = {"train_loss": [1.0, 0.8, 0.6], "train_acc": [0.5, 0.6, 0.7]}
    fig = plot.compare_histories({"Adam": with_test, "GD": with_test})
    assert _n_axes(fig) == 2 and "test accuracy" in fig.axes[1].get_title()
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), [40, 60])
    fig = plot.compare_histories({"GD": no_test}, title="x")
    assert "training accuracy" in fig.axes[1].get_title()
    with pytest.raises(ValueError):
        plot.compare_histories({})


# ------------------------------------------------------------------------- EWA, surfaces, samples


@pytest.mark.parametrize("correction, lines_per_beta", [(False, 1), (True, 1), ("both", 2)])
def test_plot_ewa_draws_the_averages(rng, correction, lines_per_beta):
    values = 10 + rng.standard_normal(50)
    fig = plot.plot_ewa(values, betas=(0.9, 0.5), bias_correction=correction)
    ax = fig.axes[0]
    assert len(ax.lines) == 1 + 2 * lines_per_beta
    # the line of beta = 0.9 is the library's EWA
    expected = ref.ewa(values, 0.9, bias_correction=correction is True)
    np.testing.assert_allclose(ax.lines[1].get_ydata(), expected)


def test_plot_ewa_rejects_bad_input():
    with pytest.raises(ValueError, match="1-D"):
        plot.plot_ewa(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="bias_correction"):
        plot.plot_ewa(np.zeros(3), bias_correction="yes")


def test_plot_surfaces_one_3d_axes_each():
    fig = plot.plot_surfaces({"bowl": lambda a, b: a ** 2 + b ** 2, "saddle": lambda a, b: a ** 2 - b ** 2}, n=15)
    assert _n_axes(fig) == 2 and fig.axes[0].name == "3d"
    with pytest.raises(ValueError, match="shaped like"):
        plot.plot_surfaces({"bad": lambda a, b: 1.0}, n=5)


def test_plot_samples_reports_the_share_per_decade(rng):
    log_samples = ref.sample_log_uniform(1e-4, 1.0, rng, size=4000)
    linear = rng.uniform(1e-4, 1.0, 4000)
    fig = plot.plot_samples({"log": log_samples, "linear": linear}, 1e-4, 1.0)
    assert _n_axes(fig) == 2
    log_title, lin_title = fig.axes[0].get_title(), fig.axes[1].get_title()
    assert "per decade: 25%, 25%, 25%, 25%" in log_title.replace("24%", "25%").replace("26%", "25%"), log_title
    assert lin_title.endswith("90%"), lin_title  # a uniform draw puts 90 % of the samples in the top decade
    fig = plot.plot_samples({"x": [0.5, 0.7]}, 0.1, 1.0, log=False)
    assert fig.axes[0].get_xscale() == "linear"
    with pytest.raises(ValueError, match="0 < low < high"):
        plot.plot_samples({"x": [1.0]}, 0.0, 1.0)


# ------------------------------------------------------------------------- optimizer explorer


def test_optimizer_explorer_paths_match_the_library():
    ex = widgets.optimizer_explorer()
    assert set(ex.paths) == {"gd", "momentum", "rmsprop", "adam"}
    start = ref.optim.ILL_CONDITIONED_START
    bowl = lambda w: ref.ill_conditioned(w, 100.0)  # noqa: E731
    for rule, path in ex.paths.items():
        expected = ref.optimize_path(rule, start, ex.controls["steps"].value, bowl, **ex.hyperparameters(rule))
        np.testing.assert_array_equal(path, expected)
        assert ex.final_loss[rule] == bowl(path[-1])[0]
    assert ex.picture.value[:4] == b"\x89PNG", "the picture must be a PNG"
    assert repr(ex).startswith("OptimizerExplorer: κ=100, 60 steps")
    # on the default bowl the adaptive rules beat momentum, which beats plain GD
    f = ex.final_loss
    assert f["rmsprop"] < f["momentum"] < f["gd"] and f["adam"] < f["gd"]


def test_optimizer_explorer_every_control_recomputes():
    ex = widgets.optimizer_explorer()
    ex.draw = False
    before = {k: p.copy() for k, p in ex.paths.items()}
    ex.controls["beta"].value = 0.5  # momentum and RMSProp change, GD and Adam do not
    np.testing.assert_array_equal(ex.paths["gd"], before["gd"])
    np.testing.assert_array_equal(ex.paths["adam"], before["adam"])
    assert not np.array_equal(ex.paths["momentum"], before["momentum"])
    assert not np.array_equal(ex.paths["rmsprop"], before["rmsprop"])
    ex.controls["beta1"].value = 0.5
    assert not np.array_equal(ex.paths["adam"], before["adam"])
    for rule in widgets.OPTIMIZER_RULES:  # each rule's own learning rate moves only its own path
        snapshot = {k: p.copy() for k, p in ex.paths.items()}
        ex.controls[f"lr_{rule}"].value = 0.01
        for other, path in ex.paths.items():
            assert np.array_equal(path, snapshot[other]) == (other != rule), (rule, other)
    ex.controls["kappa"].value = 10.0
    assert ex.kappa == 10.0 and "κ=10," in ex.message
    ex.controls["steps"].value = 20
    assert all(p.shape == (21, 2) for p in ex.paths.values())
    ex.show["gd"].value = False
    assert "gd" not in ex.paths and "GD J=" not in ex.message
    for box in ex.show.values():
        box.value = False
    assert ex.paths == {} and "no rule ticked" in ex.message


def test_optimizer_explorer_reports_divergence_without_warnings():
    ex = widgets.optimizer_explorer()
    with np.errstate(all="raise"):
        ex.controls["lr_gd"].value = 0.1  # α·κ = 10 > 2
    assert ex.final_loss["gd"] == float("inf") or ex.final_loss["gd"] > 1e6
    assert "GD diverged" in ex.message and "diverges" in ex.info.value


def test_optimizer_explorer_redraws_the_contours_when_kappa_changes():
    ex = widgets.optimizer_explorer()
    first_figure, first_picture = ex._fig, ex.picture.value
    ex.controls["steps"].value = 30
    assert ex._fig is first_figure, "moving another slider must not rebuild the figure"
    ex.controls["kappa"].value = 5.0
    assert ex._fig is not first_figure and ex.picture.value != first_picture


def test_optimizer_explorer_sweep_of_settings_never_fails():
    ex = widgets.optimizer_explorer()
    ex.draw = False
    for lr, lr_a, beta2, kappa in itertools.product((1e-3, 0.09, 3.0), (1e-3, 3.0), (0.5, 0.999), (1.0, 1000.0)):
        for rule in ("gd", "momentum"):
            ex.controls[f"lr_{rule}"].value = lr
        for rule in ("rmsprop", "adam"):
            ex.controls[f"lr_{rule}"].value = lr_a
        ex.controls["beta2"].value, ex.controls["kappa"].value = beta2, kappa
        assert set(ex.final_loss) == set(ex.paths) == set(widgets.OPTIMIZER_RULES)
    ex.draw = True
    ex.update()
    assert ex.picture.value


def test_optimizer_explorer_text_is_deterministic_and_arguments_are_checked():
    assert repr(widgets.optimizer_explorer()) == repr(widgets.optimizer_explorer())
    assert widgets.optimizer_explorer(start=(2.0, -1.0)).paths["gd"][0].tolist() == [2.0, -1.0]
    assert widgets.optimizer_explorer(kappa=20).kappa == 20.0
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        widgets.optimizer_explorer(start=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="kappa"):
        widgets.optimizer_explorer(kappa=0.5)
