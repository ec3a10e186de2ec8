"""Bilevel test problems with known answers and the data-driven benchmark problems."""

from optlib.bilevel.problems._data import DataProblem as DataProblem
from optlib.bilevel.problems._data import hyper_cleaning as hyper_cleaning
from optlib.bilevel.problems._data import ijcnn1_regularization as ijcnn1_regularization
from optlib.bilevel.problems._quadratic import Quadratic as Quadratic
from optlib.bilevel.problems._quadratic import quadratic as quadratic
from optlib.bilevel.problems._toys import Toy as Toy
from optlib.bilevel.problems._toys import box_constrained as box_constrained
from optlib.bilevel.problems._toys import min_norm_least_squares as min_norm_least_squares
from optlib.bilevel.problems._toys import non_unique_lower_level as non_unique_lower_level
from optlib.bilevel.problems._toys import unbounded_smoothness as unbounded_smoothness

__all__ = [
    "DataProblem",
    "Quadratic",
    "Toy",
    "box_constrained",
    "hyper_cleaning",
    "ijcnn1_regularization",
    "min_norm_least_squares",
    "non_unique_lower_level",
    "quadratic",
    "unbounded_smoothness",
]
