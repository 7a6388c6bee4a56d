import './base.css';
import './uplot.css';
import './training.css';
import './video.css';
import './conversations.css';
