import './base.css';
import './uplot.css';
import './training.css';
