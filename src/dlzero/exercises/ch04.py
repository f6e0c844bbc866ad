# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 4 exercises: numerical differentiation
#
# Write the book's functions yourself. Each exercise is a function with a line
# `raise NotImplementedError("your code here")`: replace that line by your code, run the cell,
# then run the check below it. A check never stops the notebook: it prints **PASS**, or
# **FAIL** with what is wrong ("not written yet" for an exercise still blank).
#
# (`dlzero exercises 4 --solutions` writes the solved notebook, if you are stuck.)

# %%
import os

import numpy as np

import dlzero
from dlzero import check_function

# DLZERO_QUICK=1 (what the tests set) keeps every cell to a second or two.
QUICK = os.environ.get("DLZERO_QUICK", "0") == "1"
print("quick mode" if QUICK else "full mode", "- dlzero", dlzero.__version__)

# %% [markdown]
# ## 1. The derivative
#
# `numerical_diff(f, x)` approximates f'(x) with a small step `h = 1e-4`. Use the *central*
# difference, `(f(x + h) - f(x - h)) / (2 * h)`: its error shrinks with h², where the forward
# difference's shrinks only with h (section 4.3.1).


# %%
def numerical_diff(f, x):
    h = 1e-4
    ### BEGIN SOLUTION
    return (f(x + h) - f(x - h)) / (2 * h)
    ### END SOLUTION


# %% [markdown]
# The check: the book's `function_1`, `0.01 x² + 0.1 x`, whose derivative at 5 is exactly 0.2.


# %%
def function_1(x):
    return 0.01 * x**2 + 0.1 * x


check_function(numerical_diff, function_1, 5.0, expected=0.2)

# %% [markdown]
# ## 2. The gradient
#
# `numerical_gradient(f, x)`: the partial derivative of `f` with respect to every element of
# the array `x`, whatever its shape (the book's second version, for the weight matrices of
# section 4.4.2). Nudge one element at a time by `h` up and down, in place, and **put it back**
# before the next one: `f` reads `x` itself.


# %%
def numerical_gradient(f, x):
    h = 1e-4
    grad = np.zeros_like(x)
    ### BEGIN SOLUTION
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        idx = it.multi_index
        tmp_val = x[idx]
        x[idx] = tmp_val + h
        fxh1 = f(x)
        x[idx] = tmp_val - h
        fxh2 = f(x)
        grad[idx] = (fxh1 - fxh2) / (2 * h)
        x[idx] = tmp_val  # put the value back
        it.iternext()
    ### END SOLUTION
    return grad


# %% [markdown]
# Two checks: the book's `function_2`, `x0² + x1²`, whose gradient at (3, 4) is (6, 8), and
# `sum(W³)` on a 2x3 matrix, whose gradient is `3 W²`.


# %%
def function_2(x):
    return np.sum(x**2)


check_function(numerical_gradient, function_2, np.array([3.0, 4.0]), expected=[6.0, 8.0])

# %%
W = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
check_function(numerical_gradient, lambda w: np.sum(w**3), W, expected=3 * W**2)

# %% [markdown]
# ## 3. Gradient descent
#
# `gradient_descent(f, init_x, lr, step_num)` takes `step_num` steps of `x -= lr * gradient`,
# with your `numerical_gradient`, and returns the last `x`. From (-3, 4) with lr 0.1, each
# step multiplies `x` by 1 - 2 * 0.1 = 0.8 for `function_2`, so 100 steps end at 0.8¹⁰⁰ (-3, 4).


# %%
def gradient_descent(f, init_x, lr=0.01, step_num=100):
    x = init_x.copy()
    ### BEGIN SOLUTION
    for _ in range(step_num):
        x -= lr * numerical_gradient(f, x)
    ### END SOLUTION
    return x


# %%
check_function(
    gradient_descent,
    function_2,
    np.array([-3.0, 4.0]),
    0.1,
    100,
    expected=0.8**100 * np.array([-3.0, 4.0]),
)
