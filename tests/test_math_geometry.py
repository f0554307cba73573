"""Geometry steps of MATH programs (AREA, PERIMETER, VOLUME, SURFACE, LENGTH, POLYGON, ANGLE): the
executor against independent references (a cross product, a figure cut into others, a
polygon's exterior angles summing to 360 degrees), the rules that read them from a problem's
words (solver/math_geometry.py), problems whose words leave a measure unstated, and MATH train
problems labelled end to end against their dataset answers."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
import sympy
from conftest import labelled_math_step_ops

from mycelium.data.records import Problem
from mycelium.inference.math_tracks import solve_math_problems
from mycelium.solver.executor import ExecutionError
from mycelium.solver.latex import parse_latex
from mycelium.solver.math_geometry import geometry_candidates
from mycelium.solver.math_program import MathOp, MathProgram, MathStep, execute_math_program
from mycelium.solver.math_structure import math_spans


def run(op: MathOp, form: str, *numbers: str) -> sympy.Expr:
    """The step's answer, read back as a sympy number to compare with a reference."""
    answer = execute_math_program(MathProgram((MathStep(op, numbers[0], operands=numbers[1:],
                                                        form=form),)), [])
    return sympy.nsimplify(parse_latex(answer).doit())


def test_polygon_area_is_half_the_cross_product_of_a_triangle():
    (ax, ay), (bx, by), (cx, cy) = (4, -1), (10, 3), (4, 5)
    cross = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
    assert run(MathOp.AREA, "polygon", *map(str, (ax, ay, bx, by, cx, cy))) == \
        Fraction(abs(cross), 2)


def test_polygon_area_of_a_quadrilateral_is_its_two_triangles():
    # the square (0,0) (4,0) (4,4) (0,4) cut along a diagonal: 8 + 8; listed either way round
    assert run(MathOp.AREA, "polygon", "0", "0", "4", "0", "4", "4", "0", "4") == 16
    assert run(MathOp.AREA, "polygon", "0", "4", "4", "4", "4", "0", "0", "0") == 16
    assert run(MathOp.AREA, "rectangle", "3", "5") == \
        run(MathOp.AREA, "polygon", "0", "0", "3", "0", "3", "5", "0", "5")


def test_heron_agrees_with_half_base_times_height():
    # a 3-4-5 right triangle's legs are a base and its height
    assert run(MathOp.AREA, "triangle_sides", "3", "4", "5") == Fraction(3 * 4, 2)
    # an equilateral triangle of side 2 has height sqrt(3)
    assert run(MathOp.AREA, "triangle_sides", "2", "2", "2") == sympy.sqrt(3)
    assert run(MathOp.AREA, "equilateral", "2") == sympy.sqrt(3)


def test_lengths_are_pythagoras():
    assert run(MathOp.LENGTH, "distance", "1", "1", "4", "5") == 5
    assert run(MathOp.LENGTH, "distance", "0", "0", "0", "1", "2", "2") == 3
    assert run(MathOp.LENGTH, "hypotenuse", "5", "12") == 13
    assert run(MathOp.LENGTH, "leg", "13", "5") == 12
    assert run(MathOp.LENGTH, "diagonal", "1", "1", "1") == sympy.sqrt(3)


def test_rhombus_is_four_right_triangles_of_half_diagonals():
    # diagonals 6 and 8: four right triangles with legs 3 and 4, hypotenuse 5
    assert run(MathOp.AREA, "rhombus", "6", "8") == 4 * Fraction(3 * 4, 2)
    assert run(MathOp.PERIMETER, "rhombus", "6", "8") == 4 * 5


def test_solids_against_each_other():
    # a cone is a third of its cylinder, a hemisphere half its sphere, a cube a box
    assert run(MathOp.VOLUME, "cone", "3", "4") * 3 == run(MathOp.VOLUME, "cylinder", "3", "4")
    assert run(MathOp.VOLUME, "hemisphere", "3") * 2 == run(MathOp.VOLUME, "sphere", "3")
    assert run(MathOp.VOLUME, "cube", "5") == run(MathOp.VOLUME, "box", "5", "5", "5") == 125
    assert run(MathOp.SURFACE, "cube", "5") == run(MathOp.SURFACE, "box", "5", "5", "5") == 150
    # a cylinder's surface: its curved face and two discs
    assert run(MathOp.SURFACE, "cylinder", "2", "5") == \
        run(MathOp.SURFACE, "cylinder_lateral", "2", "5") + 2 * run(MathOp.AREA, "circle", "2")
    # a hemisphere's surface: half the sphere's and its base disc
    assert run(MathOp.SURFACE, "hemisphere", "3") == \
        run(MathOp.SURFACE, "sphere", "3") / 2 + run(MathOp.AREA, "circle", "3")
    assert run(MathOp.PERIMETER, "circle", "\\frac{16}{2}") == 16 * sympy.pi


@pytest.mark.parametrize("sides", range(3, 13))
def test_polygon_angles_from_the_exterior_angles_summing_to_360(sides):
    exterior = Fraction(360, sides)
    assert run(MathOp.POLYGON, "exterior", str(sides)) == exterior
    assert run(MathOp.POLYGON, "interior", str(sides)) == 180 - exterior
    assert run(MathOp.POLYGON, "interior_sum", str(sides)) == sides * (180 - exterior)
    if exterior.denominator == 1:
        assert run(MathOp.POLYGON, "sides_from_interior", str(180 - exterior)) == sides
        assert run(MathOp.POLYGON, "sides_from_exterior", str(exterior)) == sides


def test_inradius_is_area_over_half_the_perimeter():
    # a 3-4-5 right triangle's inscribed circle touches both legs: r = (3 + 4 - 5) / 2
    assert run(MathOp.LENGTH, "inradius", "3", "4", "5") == Fraction(3 + 4 - 5, 2)
    # an equilateral triangle of side 6: r is a third of its height 3 sqrt(3)
    assert run(MathOp.LENGTH, "inradius", "6", "6", "6") == sympy.sqrt(3)
    assert run(MathOp.LENGTH, "indiameter", "6", "6", "6") == 2 * sympy.sqrt(3)


@pytest.mark.parametrize("hours,minutes", [(3, 0), (6, 0), (9, 45), (12, 30), (2, 30)])
def test_clock_angle_from_where_each_hand_points(hours, minutes):
    # each hand's angle from 12 o'clock, in degrees: the minute hand 6 a minute, the hour hand
    # 30 an hour plus its share of the hour
    minute_hand = 6 * minutes
    hour_hand = 30 * (hours % 12) + Fraction(minutes, 2)
    apart = abs(minute_hand - hour_hand) % 360
    assert run(MathOp.ANGLE, "clock", str(hours), str(minutes)) == min(apart, 360 - apart)


@pytest.mark.parametrize("op,form,numbers", [
    (MathOp.ANGLE, "clock", ("13", "61")), (MathOp.LENGTH, "inradius", ("1", "2", "5")),
    (MathOp.AREA, "circle", ("-2",)), (MathOp.AREA, "rectangle", ("0", "3")),
    (MathOp.AREA, "triangle_sides", ("1", "2", "5")), (MathOp.LENGTH, "leg", ("3", "5")),
    (MathOp.POLYGON, "sides_from_interior", ("145",)), (MathOp.POLYGON, "interior", ("2",))])
def test_impossible_measures_are_refused(op, form, numbers):
    with pytest.raises(ExecutionError) as error:
        run(op, form, *numbers)
    assert error.value.reason == "not_a_measure"


def test_geometry_steps_survive_json():
    program = MathProgram((MathStep(MathOp.VOLUME, "\\frac{16}{2}", operands=("4",),
                                    form="cylinder"),))
    assert MathProgram.from_json(json.loads(json.dumps(program.to_json()))) == program
    for bad in ({"op": "AREA", "target": "3", "form": "circle", "operands": ["4"]},
                {"op": "AREA", "target": "3", "form": "octagon", "operands": []},
                {"op": "AREA", "target": "3", "operands": []}):
        with pytest.raises(ExecutionError):
            MathProgram.from_json({"steps": [bad]})


def read(text: str) -> list[MathStep]:
    return [step for steps in geometry_candidates(text, math_spans(text), (0, len(text)))
            for step in steps]


@pytest.mark.parametrize("text", [
    # a fourth segment and an incenter; the larger angle; a time and a duration
    "Let $\\triangle ABC$ be an isosceles triangle such that $BC = 30$ and $AB = AC.$ We have "
    "that $I$ is the incenter of $\\triangle ABC,$ and $IC = 18.$ What is the length of the "
    "inradius of the triangle?",
    "What is the larger angle formed by the hour hand and the minute hand at 3:20?",
    "At 3:20, what is the angle between the hour hand and the minute hand 15 minutes later?",
    # a dimension that is an unknown, not a stated number
    "A rectangle has a length of $x$ inches and a width of 5 inches. What is its area?",
    "The lengths of the three sides of a triangle are $7$, $x+4$ and $2x+1$.  The perimeter "
    "of the triangle is 36.  What is the length of the longest side of the triangle?",
    # no dimension stated at all
    "What is the area of a circle? Express your answer in terms of $\\pi$.",
    # a number the formula does not use: eleven of them
    "Eleven rectangular 9-inch by 12-inch pictures hang on a wall. How many square inches of "
    "the wall's surface area are covered by the pictures?",
    # two figures, related by words no formula here reads
    "A sphere is inscribed in a cube with edge length 9 inches. How many cubic inches are in "
    "the volume of the sphere?",
    # feet measured, square yards asked
    "A rectangular room measures 12-feet by 6-feet. How many square yards of carpet are needed "
    "to cover the floor of the room?",
    # a radius stated twice with two values
    "A circle has a radius of 3 and another circle has a radius of 5. What is the area?",
])
def test_rules_leave_unstated_measures_alone(text):
    assert read(text) == []


def test_rules_read_the_dimensions_the_words_state():
    (step,) = read("A right cylinder with a height of 5 inches has a radius of 2 inches. What "
                   "is the area of the curved surface of the cylinder, in square inches?")
    assert (step.op, step.form, step.target, step.operands) == \
        (MathOp.SURFACE, "cylinder_lateral", "2", ("5",))
    (step,) = read("How many cubic feet are in the volume of a round swimming pool which is 16 "
                   "feet in diameter and 4 feet deep throughout?")
    assert (step.op, step.form, step.target, step.operands) == \
        (MathOp.VOLUME, "cylinder", "\\frac{16}{2}", ("4",))


# MATH train problems (every 4th row and the rest of train), with their dataset answers
TRAIN = [
    ("What is the number of units in the distance between $(2,5)$ and $(-6,-1)$?", "10",
     MathOp.LENGTH),
    ("What is the distance between (-2,4) and (3,-8)?", "13", MathOp.LENGTH),
    ("What is the area, in square units, of a triangle whose vertices are at $(4, -1)$, "
     "$(10, 3)$ and $(4, 5)$?", "18", MathOp.AREA),
    ("Find the perimeter of a triangle with points $A(1,2)$, $B(1,8)$, and $C(5,5)$ on a "
     "Cartesian coordinate plane.", "16", MathOp.PERIMETER),
    ("How many cubic feet are in the volume of a round swimming pool which is 16 feet in "
     "diameter and 4 feet deep throughout? Express your answer in terms of $\\pi$.", "256\\pi",
     MathOp.VOLUME),
    ("A right cylinder with a height of 5 inches has a radius of 2 inches. What is the area of "
     "the curved surface of the cylinder, in square inches? Express your answer in terms of "
     "$\\pi$.", "20\\pi", MathOp.SURFACE),
    ("The side lengths of a triangle are 14 cm, 48 cm and 50 cm. How many square centimeters "
     "are in the area of the triangle?", "336", MathOp.AREA),
    ("The diagonal lengths of a rhombus are 24 units and 10 units. What is the area of the "
     "rhombus, in square units?", "120", MathOp.AREA),
    ("What is the perimeter of a rhombus with diagonals of lengths 12 and 16 units?", "40",
     MathOp.PERIMETER),
    ("Each interior angle of a regular polygon measures $140^\\circ$. How many sides does the "
     "polygon have?", "9", MathOp.POLYGON),
    ("What is the radius of the circle inscribed in triangle $ABC$ if $AB = 5, AC=6, BC=7$? "
     "Express your answer in simplest radical form.", "\\frac{2\\sqrt{6}}{3}", MathOp.LENGTH),
    ("What is the radius of the circle inscribed in triangle $ABC$ if $AB = 15,$ $AC = 41,$ "
     "and $BC = 52$?", "\\frac{13}{3}", MathOp.LENGTH),
    ("What is the measure, in degrees, of the acute angle formed by the hour hand and the "
     "minute hand of a 12-hour clock at 6:48?", "84", MathOp.ANGLE),
    ("At 3:20, what is the measure in degrees of the lesser angle formed by the hour hand and "
     "the minute hand?", "20\\text{ degrees}", MathOp.ANGLE),
    ("The shape of the sign outside Bob's Burger Barn is a regular octagon. How many degrees "
     "are in the measure of an interior angle of this sign?", "135^\\circ", MathOp.POLYGON),
]


@pytest.mark.parametrize("text,answer,op", TRAIN)
def test_math_train_geometry_problems(text, answer, op):
    assert labelled_math_step_ops(text, answer) == [op]


def test_structure_track_answers_a_word_problem_with_a_distance():
    (result,) = solve_math_problems([Problem.create(
        "math", "What is the distance between (-2,4) and (3,-8)?")])
    assert (result.track, result.answer) == ("structure", "13")
